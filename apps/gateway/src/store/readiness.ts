// store: is the database fit to take work? /readyz asks this. `SELECT 1` is answered without touching the
// file, so it said "ok" for a full, read-only or corrupted database, and it waited forever on a frozen disk.
// This probe writes, reads through a fresh connection, checks the free space, and has a deadline.
import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import sqlite3 from 'sqlite3';
import type { SqliteDriver } from './driver.js';
import type { SqlTx, Store } from './index.js';

export type DatabaseHealth = 'ok' | 'timeout' | 'failed' | 'disk_full';

export interface Readiness<T = unknown> {
  readonly database: DatabaseHealth;
  /** The driver's error code when the probe failed (SQLITE_READONLY, SQLITE_NOTADB, …); never its message. */
  readonly error?: string | undefined;
  /** What `report` read in the probe's transaction; absent when the database did not answer. */
  readonly report?: T | undefined;
}

export interface ReadinessOptions {
  /** A probe still running after this is a `timeout` (a frozen disk, a lock held elsewhere). */
  readonly timeoutMs: number;
  /** Below this much free space on the database's file system the database is `disk_full`. */
  readonly minFreeBytes: number;
  /** Free bytes on the file system holding `path` (statfs; replaceable in tests). */
  readonly freeBytes?: (path: string) => Promise<number>;
  readonly now?: () => number;
}

export const DEFAULT_READINESS: ReadinessOptions = { timeoutMs: 2000, minFreeBytes: 64 * 1024 * 1024 };

const freeBytesOf = async (path: string) => {
  const s = await statfs(path);
  return s.bavail * s.bsize;
};

/**
 * A probe function for one store. At most one probe runs at a time: while the disk is frozen, every
 * /readyz call waits on the same stuck probe (and times out) instead of queueing another write behind it.
 */
export function readinessProbe<T>(
  store: Store,
  databaseUrl: string,
  options: ReadinessOptions,
  /** Read in the probe's own transaction, for the body of /readyz (the jobs' health). */
  report: (tx: SqlTx, now: number) => Promise<T>,
): () => Promise<Readiness<T>> {
  const now = options.now ?? Date.now;
  const file = store.dialect === 'sqlite' ? databaseUrl.slice('sqlite:'.length) : undefined;
  const onDisk = file !== undefined && file !== ':memory:' ? resolve(file) : undefined;
  const freeBytes = options.freeBytes ?? freeBytesOf;
  let inFlight: Promise<Readiness<T>> | undefined;

  const probe = async (): Promise<Readiness<T>> => {
    try {
      if (onDisk && (await freeBytes(dirname(onDisk))) < options.minFreeBytes)
        return { database: 'disk_full' };
      // The write goes through the store's writer like any other, so it is committed (fsync included) the
      // way an exam's arrival would be.
      const at = now();
      const reported = await store.write(async (tx) => {
        await tx.run(
          'INSERT INTO readiness (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at',
          [at],
        );
        return report(tx, at);
      });
      // The store's own connection answers from its page cache; a fresh one reads the file.
      if (onDisk) await readThroughFreshConnection(onDisk, store.sqliteDriver);
      return { database: 'ok', report: reported };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return { database: 'failed', error: typeof code === 'string' ? code : 'unknown' };
    }
  };

  return () => {
    inFlight ??= probe().finally(() => {
      inFlight = undefined;
    });
    return withDeadline(inFlight, options.timeoutMs);
  };
}

function withDeadline<T>(probe: Promise<Readiness<T>>, timeoutMs: number): Promise<Readiness<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Readiness<T>>((done) => {
    timer = setTimeout(() => done({ database: 'timeout' }), timeoutMs);
  });
  return Promise.race([probe, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Through the store's own binding: each binding carries its own copy of SQLite, and a copy that closes a file
 * releases every POSIX lock this process holds on it, those of the other copy's connection included (SQLite
 * defers such closes only among its own connections).
 */
async function readThroughFreshConnection(file: string, driver: SqliteDriver): Promise<void> {
  if (driver === 'better-sqlite3') {
    // A lock is waited for in this thread: 100 ms at most, not better-sqlite3's default 5 s.
    const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: 100 });
    try {
      db.prepare('SELECT checked_at FROM readiness WHERE id = 1').get();
    } finally {
      db.close();
    }
    return;
  }
  return new Promise((done, fail) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (openError) => {
      if (openError) return fail(openError);
      db.get('SELECT checked_at FROM readiness WHERE id = 1', (readError) => {
        db.close(() => (readError ? fail(readError) : done()));
      });
    });
  });
}

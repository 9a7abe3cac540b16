// store: the fsync that makes a better-sqlite3 commit durable: in the main thread while the disk is quick,
// on libuv's thread pool while it is not.
//
// In WAL mode, SQLite's synchronous=FULL is synchronous=NORMAL plus one sync of the write-ahead log after each
// commit (https://sqlite.org/pragma.html#pragma_synchronous); NORMAL already syncs the log before each
// checkpoint and the database after it. So the connection commits with NORMAL and the store syncs the log
// itself before the commit's writes resolve: nothing is acknowledged before it is on disk, as with FULL, and
// the store chooses the thread that waits for the disk.
//
// Which thread. A sync on the thread pool leaves the event loop free while the disk works, but on 2 cores
// shared with other processes the pool's thread first waits for a core (30–60 ms per thread over a run of
// 40,000 pushes) and its wake-up and completion cost the main thread too: the sync as the main thread saw it
// took 0.9 ms at the median. Waited for in the main thread, the same sync blocked the event loop for 0.26 ms at
// the median (p90 1.3–1.9 ms, p99 4.6–6.6 ms: SQLite's checkpoints and ext4's journal share the disk), and the
// batch is acknowledged at once: 1.02–1.06× the pushes a second at 0.90–0.92× the CPU per push (BENCHMARKS.md,
// session 24). What is not worth it is a stalled disk freezing every request (health checks included) batch
// after batch: a sync that takes longer than SLOW_SYNC_MS sends the syncs of the next SLOW_DISK_SPELL_MS to the
// thread pool, and the one after that tries the main thread again. (Sending them there after any sync over
// 2 ms, 6–10 % of them under load, kept the pool in use most of the time and lost the gain: 0.94×.)
//
// Between a commit and its sync, a read on the connection sees the committed rows (an admin page may show them
// a moment early). Nothing is acknowledged without a write first (a decision recorded, an event accepted), and
// that write resolves only after its own sync, which covers every commit before it. The outbox worker's own
// writes are lazy (store WriteOptions): they resolve at the commit and are synced within LAZY_SYNC_MS or by the
// next sync; a power loss in between undoes them whole, and the job runs again, as after a crash.
//
// What stays in the main thread in any case: SQLite's automatic checkpoint, which runs inside a COMMIT once the
// log passes 1,000 pages (about 4 MB) and syncs the log and the database file (two fsyncs, then the log is
// reused).
//
// Why syncing our own descriptor is enough: fdatasync flushes the file (the inode), whoever wrote it, and
// SQLite keeps the same -wal file for as long as a connection is open (it rewinds and truncates it, but deletes
// it only when the last connection closes).
import fs from 'node:fs';

/**
 * The commit is done but could not be made durable (the disk refused the sync). Its writes must not be run
 * again (they are in the database) nor acknowledged (they may not survive a power loss).
 */
export class NotDurableError extends Error {
  readonly code = 'not_durable';
  constructor(cause: unknown) {
    super(`the write-ahead log could not be synced to disk: ${(cause as Error).message ?? cause}`, { cause });
    this.name = 'NotDurableError';
  }
}

/** How long a lazy commit (WriteOptions) waits at most for a sync of its own. */
export const LAZY_SYNC_MS = 50;

/**
 * A sync in the main thread that took longer than this means a stalled disk: the next ones go to the thread
 * pool. Above what a busy local disk takes now and then (p99.9 10–16 ms under the ingest bench).
 */
export const SLOW_SYNC_MS = 20;

/** How long the syncs stay on the thread pool after a slow one, before the main thread tries again. */
export const SLOW_DISK_SPELL_MS = 1000;

/**
 * Where the syncs wait for the disk: in the main thread while it is quick (the default), or always on libuv's
 * thread pool (the event loop never waits for the disk; tests that hold a sync back use it).
 */
export type SyncThread = 'main-while-quick' | 'thread-pool';

export interface WalSyncOptions {
  readonly thread?: SyncThread;
  /** The clock that times a sync in the main thread (tests). */
  readonly now?: () => number;
  /** Told of each sync in the main thread that took longer than SLOW_SYNC_MS, and how long it took. */
  readonly onSlowSync?: (tookMs: number) => void;
}

/** How often at most the log says that syncs are slow (slowSyncReport). */
export const SLOW_SYNC_REPORT_MS = 60_000;

/**
 * WalSyncOptions.onSlowSync for the log: a warning at the first slow sync, then at most one every
 * SLOW_SYNC_REPORT_MS with how many there were since the last (a disk slow for good would otherwise say so once
 * a second).
 */
export function slowSyncReport(
  warn: (fields: { slowSyncs: number; slowestMs: number }, message: string) => void,
  now: () => number = Date.now,
): (tookMs: number) => void {
  let since = 0;
  let slowest = 0;
  let lastReport = Number.NEGATIVE_INFINITY;
  return (tookMs) => {
    since++;
    slowest = Math.max(slowest, tookMs);
    if (now() - lastReport < SLOW_SYNC_REPORT_MS) return;
    warn(
      { slowSyncs: since, slowestMs: Math.round(slowest) },
      `the disk took over ${SLOW_SYNC_MS} ms to sync a commit: the syncs of the next ${SLOW_DISK_SPELL_MS / 1000} s after each such one wait on the thread pool, not in the event loop`,
    );
    lastReport = now();
    since = 0;
    slowest = 0;
  };
}

export class WalSync {
  #descriptor: number | undefined;
  #soon: NodeJS.Timeout | undefined;
  /**
   * Set by the first sync that fails, and every sync fails with it from then on: after a failed fsync, Linux
   * may report the next one as a success although the pages it failed to write are lost ("fsyncgate"; why
   * PostgreSQL stops rather than retry one), so nothing may be acknowledged again until the process restarts.
   */
  #failed: NotDurableError | undefined;
  /** Until when the syncs go to the thread pool (a slow sync was seen), by `now`. */
  #poolUntil = Number.NEGATIVE_INFINITY;
  readonly #thread: SyncThread;
  readonly #now: () => number;
  readonly #onSlowSync: (tookMs: number) => void;

  constructor(
    private readonly walFile: string,
    options: WalSyncOptions = {},
  ) {
    this.#thread = options.thread ?? 'main-while-quick';
    this.#now = options.now ?? performance.now.bind(performance);
    this.#onSlowSync = options.onSlowSync ?? (() => undefined);
  }

  /** The failed sync that ended durability on this connection, if one did: the store then refuses writes. */
  get failure(): NotDurableError | undefined {
    return this.#failed;
  }

  /** The datasync running on the thread pool now, and the one queued behind it for the commits made since. */
  #running: Promise<void> | undefined;
  #queued: Promise<void> | undefined;

  /**
   * Resolves once everything committed so far is on disk. In the main thread, the sync is done when this
   * returns. On the thread pool, one datasync runs at a time: a commit made while one runs may not be in it, so
   * it waits for the next, which starts when that one ends and serves every commit made meanwhile (so a burst
   * of commits costs two syncs, not one each).
   */
  sync(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    clearTimeout(this.#soon);
    this.#soon = undefined;
    if (!this.#running) {
      if (this.#thread === 'main-while-quick' && this.#now() >= this.#poolUntil) return this.#datasyncHere();
      const running = this.#datasyncInPool().finally(() => {
        if (this.#running === running) this.#running = undefined;
      });
      this.#running = running;
      return running;
    }
    this.#queued ??= this.#running
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        return this.sync();
      });
    return this.#queued;
  }

  /** fdatasync in this thread; a slow one sends the next SLOW_DISK_SPELL_MS of syncs to the thread pool. */
  #datasyncHere(): Promise<void> {
    const started = this.#now();
    try {
      fs.fdatasyncSync(this.#open());
    } catch (error) {
      return Promise.reject(this.#failedWith(error));
    }
    const ended = this.#now();
    if (ended - started > SLOW_SYNC_MS) {
      this.#poolUntil = ended + SLOW_DISK_SPELL_MS;
      this.#onSlowSync(ended - started);
    }
    return Promise.resolve();
  }

  async #datasyncInPool(): Promise<void> {
    try {
      const descriptor = this.#open();
      await new Promise<void>((done, fail) =>
        fs.fdatasync(descriptor, (error) => (error ? fail(error) : done())),
      );
    } catch (error) {
      throw this.#failedWith(error);
    }
  }

  /** Opened at the first sync: the log exists from the first write on. */
  #open(): number {
    this.#descriptor ??= fs.openSync(this.walFile, 'r+');
    return this.#descriptor;
  }

  #failedWith(error: unknown): NotDurableError {
    if (this.#failed) return this.#failed;
    const failed = new NotDurableError(error);
    // Could not open the log: nothing was synced, nothing was lost; the next sync tries again.
    if ((error as { syscall?: string }).syscall !== 'open') this.#failed = failed;
    return failed;
  }

  /**
   * A lazy commit: synced within LAZY_SYNC_MS, unless a sync comes first. A failure here is kept, and every
   * later sync (each write that waits for the disk) fails with it.
   */
  syncSoon(): void {
    if (this.#soon || this.#failed) return;
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      this.sync().catch(() => undefined);
    }, LAZY_SYNC_MS);
  }

  /** Waits for the syncs under way, syncs what lazy commits left, then lets go of the log. */
  async close(): Promise<void> {
    const pending = this.#soon !== undefined;
    clearTimeout(this.#soon);
    this.#soon = undefined;
    await Promise.allSettled([this.#running, this.#queued]);
    if (pending) await this.sync().catch(() => undefined);
    const descriptor = this.#descriptor;
    this.#descriptor = undefined;
    if (descriptor !== undefined) fs.closeSync(descriptor);
  }
}

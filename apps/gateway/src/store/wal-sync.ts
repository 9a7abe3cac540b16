// store: the fsync that makes a better-sqlite3 commit durable, taken off the main thread.
//
// In WAL mode, SQLite's synchronous=FULL is synchronous=NORMAL plus one sync of the write-ahead log after each
// commit (https://sqlite.org/pragma.html#pragma_synchronous); NORMAL already syncs the log before each
// checkpoint and the database after it. better-sqlite3 would make that sync in the main thread, where it
// blocked the event loop for 0.8 ms on an idle disk and 6.5 ms on a busy one, every batch (BENCHMARKS.md).
// So the connection commits with NORMAL and the store syncs the log itself, on libuv's thread pool, before the
// commit's writes resolve: nothing is acknowledged before it is on disk, as with FULL.
//
// Between a commit and its sync, a read on the connection sees the committed rows (an admin page may show them
// a moment early). Nothing is acknowledged without a write first (a decision recorded, an event accepted), and
// that write resolves only after its own sync, which covers every commit before it. The outbox worker's own
// writes are lazy (store WriteOptions): they resolve at the commit and are synced within LAZY_SYNC_MS or by the
// next sync; a power loss in between undoes them whole, and the job runs again, as after a crash.
//
// What stays in the main thread: SQLite's automatic checkpoint, which runs inside a COMMIT once the log passes
// 1,000 pages (about 4 MB) and syncs the log and the database file (two fsyncs, then the log is reused).
//
// Why syncing our own descriptor is enough: fdatasync flushes the file (the inode), whoever wrote it, and
// SQLite keeps the same -wal file for as long as a connection is open (it rewinds and truncates it, but deletes
// it only when the last connection closes).
import { type FileHandle, open } from 'node:fs/promises';

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

export class WalSync {
  #handle: Promise<FileHandle> | undefined;
  #soon: NodeJS.Timeout | undefined;
  /**
   * Set by the first sync that fails, and every sync fails with it from then on: after a failed fsync, Linux
   * may report the next one as a success although the pages it failed to write are lost ("fsyncgate"; why
   * PostgreSQL stops rather than retry one), so nothing may be acknowledged again until the process restarts.
   */
  #failed: NotDurableError | undefined;

  constructor(private readonly walFile: string) {}

  /** The failed sync that ended durability on this connection, if one did: the store then refuses writes. */
  get failure(): NotDurableError | undefined {
    return this.#failed;
  }

  /** The datasync running now, and the one queued behind it for the commits made since it started. */
  #running: Promise<void> | undefined;
  #queued: Promise<void> | undefined;

  /**
   * Resolves once everything committed so far is on disk. One datasync runs at a time: a commit made while one
   * runs may not be in it, so it waits for the next, which starts when that one ends and serves every commit
   * made meanwhile (so a burst of commits costs two syncs, not one each).
   */
  sync(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    clearTimeout(this.#soon);
    this.#soon = undefined;
    if (!this.#running) {
      const running = this.#datasync().finally(() => {
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

  async #datasync(): Promise<void> {
    // Opened at the first commit: the log exists from the first write on.
    this.#handle ??= open(this.walFile, 'r+');
    try {
      const handle = await this.#handle.catch((error: unknown) => {
        this.#handle = undefined;
        throw error;
      });
      await handle.datasync();
    } catch (error) {
      if (this.#failed) throw this.#failed;
      const failed = new NotDurableError(error);
      // Could not open the log: nothing was synced, nothing was lost; the next sync tries again.
      if ((error as { syscall?: string }).syscall !== 'open') this.#failed = failed;
      throw failed;
    }
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
    const handle = this.#handle;
    this.#handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }
}

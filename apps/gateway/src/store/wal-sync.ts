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
// a moment early). Nothing is acted on outside the process without a write first (a job claimed, a decision
// recorded, an event acknowledged), and that write resolves only after its own sync, which covers every commit
// before it.
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

export class WalSync {
  #handle: Promise<FileHandle> | undefined;

  constructor(private readonly walFile: string) {}

  /** Resolves once everything committed so far is on disk. */
  async sync(): Promise<void> {
    // Opened at the first commit: the log exists from the first write on.
    this.#handle ??= open(this.walFile, 'r+');
    try {
      const handle = await this.#handle.catch((error: unknown) => {
        this.#handle = undefined;
        throw error;
      });
      await handle.datasync();
    } catch (error) {
      throw new NotDurableError(error);
    }
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }
}

// store: which binding opens a `sqlite:` database (SQLITE_DRIVER). Its own module, so that the
// configuration can name the choices without loading the store.

/**
 * `better-sqlite3` (the default) runs each statement in the calling thread: no thread-pool round trip per
 * statement, about half the gateway's CPU per exam (BENCHMARKS.md). `sqlite3` (node-sqlite3) runs them on
 * libuv's thread pool, so the event loop never waits for the disk, at that cost. The test suite runs both.
 */
export const SQLITE_DRIVERS = ['better-sqlite3', 'sqlite3'] as const;
export type SqliteDriver = (typeof SQLITE_DRIVERS)[number];
export const DEFAULT_SQLITE_DRIVER: SqliteDriver = 'better-sqlite3';

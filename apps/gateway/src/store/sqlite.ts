// store: how the gateway talks to SQLite through node-sqlite3 (better-sqlite.ts: through better-sqlite3).
// TypeORM opens the connection and runs the migrations and the repositories; a transaction's own statements
// (Tx.run and Tx.all) go to the driver's connection directly, prepared once and kept.
import type sqlite3 from 'sqlite3';
import type { SqlTx } from './index.js';

export const SQLITE_PRAGMAS = [
  // WAL: readers never block the writer. FULL: a commit is on disk before anything is acknowledged.
  'PRAGMA journal_mode = WAL',
  'PRAGMA synchronous = FULL',
  // 64 MiB of page cache instead of SQLite's 2 MiB: with a million exams stored, every B-tree an arrival
  // touches keeps its path in memory (ingest over 1,000,000 stored exams went from 0.85× to 1.15× of ingest
  // into an empty database; BENCHMARKS.md).
  'PRAGMA cache_size = -65536',
  // Sorts and temporary tables in memory, not in a temporary file opened for each statement that needs one.
  'PRAGMA temp_store = MEMORY',
];

/**
 * Another process on the same file (a backup, the sqlite3 shell) holding the write lock makes a transaction
 * wait up to this long, not fail: node-sqlite3 in SQLite's busy handler, better-sqlite3 on a timer.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

/** How many prepared statements stay open (a batch's statements differ by their number of rows). */
const PREPARED_STATEMENTS = 256;

/**
 * The statements of transactions on one connection. node-sqlite3 prepares a statement on its thread pool
 * and TypeORM prepares every query anew, so a query through TypeORM costs two trips through the event loop
 * and its bookkeeping; a kept statement costs one. Measured on the ingest path (a batch of exam arrivals is
 * four statements): 3.7k pushes/s through TypeORM's query runner, 5k through kept statements.
 */
export class SqliteStatements {
  readonly #prepared = new Map<string, Promise<sqlite3.Statement>>();

  constructor(private readonly db: sqlite3.Database) {}

  readonly tx: SqlTx = {
    run: async (sql, params = []) => {
      const statement = await this.#statement(sql);
      return new Promise((resolve, reject) =>
        statement.run(params, function (this: sqlite3.RunResult, err: Error | null) {
          if (err) reject(err);
          else resolve(this.changes);
        }),
      );
    },
    all: async <T>(sql: string, params: unknown[] = []) => {
      const statement = await this.#statement(sql);
      return new Promise<T[]>((resolve, reject) =>
        statement.all(params, (err: Error | null, rows: unknown[]) =>
          err ? reject(err) : resolve(rows as T[]),
        ),
      );
    },
  };

  /** BEGIN, COMMIT, ROLLBACK: one trip, no statement kept. */
  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  /** Before the connection closes: SQLite refuses to close one with statements still open. */
  async finalizeAll(): Promise<void> {
    const statements = [...this.#prepared.values()];
    this.#prepared.clear();
    await Promise.all(statements.map((s) => s.then(finalize, () => undefined)));
  }

  #statement(sql: string): Promise<sqlite3.Statement> {
    const kept = this.#prepared.get(sql);
    if (kept) {
      // Most recently used last, so that the first entry is the one to let go.
      this.#prepared.delete(sql);
      this.#prepared.set(sql, kept);
      return kept;
    }
    // Awaited before the statement runs: when SQLite refuses the SQL, node-sqlite3 drops whatever was queued
    // on the statement without calling back, so a run queued behind a failed prepare would never settle.
    const prepared = new Promise<sqlite3.Statement>((resolve, reject) => {
      const statement = this.db.prepare(sql, (err) => (err ? reject(err) : resolve(statement)));
    });
    prepared.catch(() => {
      if (this.#prepared.get(sql) === prepared) this.#prepared.delete(sql);
    });
    this.#prepared.set(sql, prepared);
    if (this.#prepared.size > PREPARED_STATEMENTS) {
      const [oldestSql, oldest] = this.#prepared.entries().next().value as [
        string,
        Promise<sqlite3.Statement>,
      ];
      this.#prepared.delete(oldestSql);
      // Queued behind any call still running on it.
      void oldest.then(finalize, () => undefined);
    }
    return prepared;
  }
}

function finalize(statement: sqlite3.Statement): Promise<void> {
  return new Promise((resolve) => statement.finalize(() => resolve()));
}

// store: the statements of transactions on a better-sqlite3 connection. better-sqlite3 runs a statement in
// the calling thread, so a statement costs a call into SQLite and nothing else: no trip through the libuv
// thread pool and back for each one, as node-sqlite3 makes (BENCHMARKS.md, issue 11). The price is that the
// main thread waits while SQLite does, which shapes two rules below:
// - a lock held by another process is never waited for in SQLite's busy handler (it would freeze the event
//   loop, /readyz and /healthz included, for the whole busy timeout): `begin` fails at once and the store
//   tries again from a timer;
// - nothing here may run while a transaction of another caller is open on the connection: the store's
//   writer runs transactions one at a time.
import type BetterSqlite3 from 'better-sqlite3';
import type { SqlTx } from './index.js';

/**
 * How many prepared statements stay open (a batch's statements differ by their number of rows). Exported for
 * the tests of the limit.
 */
export const PREPARED_STATEMENTS = 256;

/**
 * node-sqlite3 binds `true`/`false` as 1/0, a Date as its milliseconds and `undefined` as NULL; better-sqlite3
 * refuses booleans and Dates (and takes `undefined` only by accident of its version). The gateway's SQL is
 * written for the first, so parameters are made bindable here (a walk with no allocation when every
 * value already is: the usual case).
 */
function bindable(params: readonly unknown[]): unknown[] {
  let copy: unknown[] | undefined;
  for (let i = 0; i < params.length; i++) {
    const value = params[i];
    let bound: unknown = value;
    if (value === undefined) bound = null;
    else if (typeof value === 'boolean') bound = value ? 1 : 0;
    else if (value instanceof Date) bound = value.getTime();
    if (bound === value) continue;
    copy ??= [...params];
    copy[i] = bound;
  }
  return copy ?? (params as unknown[]);
}

export class BetterSqliteStatements {
  readonly #prepared = new Map<string, BetterSqlite3.Statement>();

  constructor(private readonly db: BetterSqlite3.Database) {}

  // async: a statement SQLite refuses rejects the promise, as on node-sqlite3, instead of throwing.
  readonly tx: SqlTx = {
    run: async (sql, params = []) => this.#statement(sql).run(...bindable(params)).changes,
    all: async <T>(sql: string, params: unknown[] = []) =>
      this.#statement(sql).all(...bindable(params)) as T[],
  };

  /** BEGIN, COMMIT, ROLLBACK. */
  async exec(sql: string): Promise<void> {
    this.db.exec(sql);
  }

  /** better-sqlite3 finalizes statements when they are collected; closing the connection needs nothing. */
  async finalizeAll(): Promise<void> {
    this.#prepared.clear();
  }

  #statement(sql: string): BetterSqlite3.Statement {
    const kept = this.#prepared.get(sql);
    if (kept) {
      // Most recently used last, so that the first entry is the one to let go.
      this.#prepared.delete(sql);
      this.#prepared.set(sql, kept);
      return kept;
    }
    const statement = this.db.prepare(sql);
    this.#prepared.set(sql, statement);
    if (this.#prepared.size > PREPARED_STATEMENTS) {
      const oldest = this.#prepared.keys().next().value as string;
      this.#prepared.delete(oldest);
    }
    return statement;
  }
}

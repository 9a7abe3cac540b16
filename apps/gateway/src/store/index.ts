// store: TypeORM over SQLite (default) or PostgreSQL. Migrations run at start; every write goes through
// `write`, which on SQLite serialises transactions and commits concurrent ones together (group commit).
import { createHash } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import sqlite3 from 'sqlite3';
import { DataSource, type EntityManager, type EntitySchema, MigrationExecutor } from 'typeorm';
import type { Logger } from '../log.js';
import { BetterSqliteStatements } from './better-sqlite.js';
import { DEFAULT_SQLITE_DRIVER, type SqliteDriver } from './driver.js';
import { whileMigrationLocked } from './migration-lock.js';
import { Initial1764000000000 } from './migrations/0001-initial.js';
import { Accounts1764000000001 } from './migrations/0002-accounts.js';
import { Results1764000000002 } from './migrations/0003-results.js';
import { Hardening1764000000004 } from './migrations/0004-hardening.js';
import { Tenancy1764000000005 } from './migrations/0005-tenancy.js';
import { Readiness1764000000006 } from './migrations/0006-readiness.js';
import { PaperNames1764000000007 } from './migrations/0007-paper-names.js';
import { LookupIndexes1764000000008 } from './migrations/0008-lookup-indexes.js';
import { LeanIndexes1764000000009 } from './migrations/0009-lean-indexes.js';
import { UnusedIndex1764000000010 } from './migrations/0010-unused-index.js';
import { CardPostedAt1764000000011 } from './migrations/0011-card-posted-at.js';
import { StaffChatPace1764000000012 } from './migrations/0012-staff-chat-pace.js';
import { HistoryScanIndexes1764000000013 } from './migrations/0013-history-scan-indexes.js';
import { ConsoleOrderIndex1764000000014 } from './migrations/0014-console-order-index.js';
import { AdminSignOuts1764000000015 } from './migrations/0015-admin-sign-outs.js';
import { FieldSetIndex1764000000016 } from './migrations/0016-field-set-index.js';
import { CardQueue1764000000017 } from './migrations/0017-card-queue.js';
import { prepareSqliteFolder, privateSqliteFiles } from './private-files.js';
import { findRow, findRows } from './rows.js';
import { AccountEntity, ExamEntity, JobEntity, ProcessedEventEntity, TenantEntity } from './schema.js';
import { SQLITE_BUSY_TIMEOUT_MS, SQLITE_PRAGMAS, SqliteStatements } from './sqlite.js';
import { type SyncThread, slowSyncReport, WalSync } from './wal-sync.js';

export { DEFAULT_SQLITE_DRIVER, SQLITE_DRIVERS, type SqliteDriver } from './driver.js';
export { checkedOnRow, entityRows, multiRowInsert, quotedList } from './rows.js';
export * from './schema.js';

/** One transaction's statements. SQL uses `?` placeholders on every driver. */
export interface SqlTx {
  /** INSERT, UPDATE or DELETE: resolves with the number of rows it changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/**
 * One transaction on the store's connection: its statements, and TypeORM's repositories to read with. Write
 * with `run`: on SQLite, TypeORM does not know that the transaction is open, and a repository's save() would
 * try to begin one of its own.
 */
export interface Tx extends SqlTx {
  readonly manager: EntityManager;
  readonly dataSource: DataSource;
}

export interface Store {
  readonly dataSource: DataSource;
  readonly dialect: 'sqlite' | 'postgres';
  /** The binding of a SQLite store (for PostgreSQL: the default, unused). */
  readonly sqliteDriver: SqliteDriver;
  /**
   * Runs `work` in a transaction; resolves only after the commit is on disk (unless `options.durability` is
   * `'lazy'`: see WriteOptions).
   */
  write<T>(work: (tx: Tx) => Promise<T>, options?: WriteOptions): Promise<T>;
  /** Reads outside a transaction, in plain SQL (on SQLite: kept statements on the store's connection). */
  readonly reads: Pick<SqlTx, 'all'>;
  /**
   * A repository's findOneBy with plain values, at a fraction of its cost (rows.ts): for the hot paths.
   * Outside a transaction; inside one, use `findOneBy(tx, …)`.
   */
  findOneBy<T>(entity: EntitySchema<T>, where: Partial<T>): Promise<T | null>;
  /** A repository's findBy with plain values, the same way (outside a transaction). */
  findBy<T>(entity: EntitySchema<T>, where: Partial<T>): Promise<T[]>;
  close(): Promise<void>;
}

export interface WriteOptions {
  /**
   * `'disk'` (default): the write resolves once its commit is on disk. `'lazy'`: once it is committed; it
   * reaches the disk with the next write that waits for the disk, or within LAZY_SYNC_MS. Only for writes
   * that a power loss may undo without losing anything acknowledged: the outbox worker's own bookkeeping (a
   * claim, a completion, a retry's schedule), which at worst makes a job run again, as a crash does. Anything
   * that answers a request waits for the disk. (better-sqlite3 only: node-sqlite3 commits with FULL and
   * PostgreSQL with its own setting, so there every write waits for the disk.)
   */
  readonly durability?: 'disk' | 'lazy';
}

export interface OpenStoreOptions {
  /** false: open as it is, without applying migrations (`feishu-exam doctor` only looks). Default true. */
  readonly migrate?: boolean;
  /** Which binding opens a `sqlite:` database. Default DEFAULT_SQLITE_DRIVER. */
  readonly sqliteDriver?: SqliteDriver;
  /**
   * better-sqlite3 on a file: where a commit's sync waits for the disk (wal-sync.ts). Default
   * 'main-while-quick'; 'thread-pool' never blocks the event loop (tests that hold a sync back use it).
   */
  readonly syncThread?: SyncThread;
}

export async function openStore(
  databaseUrl: string,
  log: Logger,
  options: OpenStoreOptions = {},
): Promise<Store> {
  const dialect = databaseUrl.startsWith('sqlite:') ? 'sqlite' : 'postgres';
  const common = {
    entities: [ExamEntity, JobEntity, ProcessedEventEntity, AccountEntity, TenantEntity],
    migrations: [
      Initial1764000000000,
      Accounts1764000000001,
      Results1764000000002,
      Hardening1764000000004,
      Tenancy1764000000005,
      Readiness1764000000006,
      PaperNames1764000000007,
      LookupIndexes1764000000008,
      LeanIndexes1764000000009,
      UnusedIndex1764000000010,
      CardPostedAt1764000000011,
      StaffChatPace1764000000012,
      HistoryScanIndexes1764000000013,
      ConsoleOrderIndex1764000000014,
      AdminSignOuts1764000000015,
      FieldSetIndex1764000000016,
      CardQueue1764000000017,
    ],
    migrationsRun: false,
    synchronize: false,
    logging: false,
  };
  let dataSource: DataSource;
  if (dialect === 'sqlite') {
    const file = databaseUrl.slice('sqlite:'.length);
    if (file !== ':memory:') prepareSqliteFolder(file, log);
    dataSource =
      (options.sqliteDriver ?? DEFAULT_SQLITE_DRIVER) === 'better-sqlite3'
        ? // busy timeout 0 once migrated (below): SQLite's busy handler would wait in the main thread.
          new DataSource({ type: 'better-sqlite3', database: file, timeout: 0, ...common })
        : new DataSource({ type: 'sqlite', database: file, driver: sqlite3WithoutTraces, ...common });
  } else {
    dataSource = new DataSource({ type: 'postgres', url: databaseUrl, ...common });
  }
  await dataSource.initialize();
  if (dialect === 'sqlite') {
    for (const pragma of SQLITE_PRAGMAS) await dataSource.query(pragma);
    // Until the migrations are done (nothing else runs yet), both bindings wait in SQLite's busy handler for
    // another process's lock: a `feishu-exam db migrate` running meanwhile delays the start, never fails it.
    await dataSource.query(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    const file = databaseUrl.slice('sqlite:'.length);
    if (file !== ':memory:') privateSqliteFiles(file);
  }
  const applied = await whileMigrationLocked(dataSource, async (inTransaction) => {
    await refuseNewerSchema(dataSource, common.migrations);
    if (options.migrate === false) return [];
    if (!inTransaction) return dataSource.runMigrations({ transaction: 'each' });
    // SQLite: every migration in the transaction that holds the file's lock (migration-lock.ts).
    const executor = new MigrationExecutor(dataSource, inTransaction);
    executor.transaction = 'none';
    return executor.executePendingMigrations();
  });
  if (applied.length > 0) log.info({ migrations: applied.map((m) => m.name) }, 'database migrated');

  // better-sqlite3 on a file: commits with NORMAL, and the store syncs the log before a commit's writes resolve,
  // in the main thread while the disk is quick (wal-sync.ts). After the migrations, which committed with FULL.
  const walSync =
    dataSource.options.type === 'better-sqlite3' && dataSource.options.database !== ':memory:'
      ? new WalSync(`${dataSource.options.database}-wal`, {
          thread: options.syncThread,
          onSlowSync: slowSyncReport((fields, message) => log.warn(fields, message)),
        })
      : undefined;
  if (walSync) await dataSource.query('PRAGMA synchronous = NORMAL');
  // From now on better-sqlite3 would wait in the main thread: BEGIN is retried on a timer instead.
  if (dataSource.options.type === 'better-sqlite3') await dataSource.query('PRAGMA busy_timeout = 0');
  const transactions =
    dialect === 'sqlite' ? sqliteTransactions(dataSource, walSync) : postgresTransactions(dataSource);
  const { reads } = transactions;
  return {
    dataSource,
    dialect,
    sqliteDriver: options.sqliteDriver ?? DEFAULT_SQLITE_DRIVER,
    write: transactions.write,
    reads,
    findOneBy: (entity, where) => findRow(reads, dataSource, entity, where),
    findBy: (entity, where) => findRows(reads, dataSource, entity, where),
    async close() {
      await transactions.close();
      if (dataSource.isInitialized) await dataSource.destroy();
    },
  };
}

/**
 * A database that a newer release migrated may hold columns and states this one does not know; running on
 * it could undo the newer release's work. Refused at start, before anything is written.
 */
async function refuseNewerSchema(
  dataSource: DataSource,
  known: ReadonlyArray<new () => { name?: string }>,
): Promise<void> {
  const names = new Set(known.map((m) => new m().name));
  let applied: Array<{ name: string }>;
  try {
    applied = await dataSource.query('SELECT name FROM migrations');
  } catch {
    return; // no migrations table yet: a new database
  }
  const unknown = applied.map((row) => row.name).filter((name) => !names.has(name));
  if (unknown.length > 0)
    throw new Error(
      `its schema is newer than this release (migrations ${unknown.join(', ')} are unknown here): run the newer feishu-exam, or restore a backup taken before the upgrade`,
    );
}

/**
 * node-sqlite3 as TypeORM gets it, minus one thing: TypeORM calls the driver's `verbose()`, after which
 * node-sqlite3 captures a stack and runs util.inspect over every argument of every call (the SQL and each
 * parameter), to append the caller to an error's stack. That was about 8 % of the gateway's CPU under
 * load (--cpu-prof); errors keep their message and code without it.
 */
const sqlite3WithoutTraces = {
  ...sqlite3,
  verbose() {
    return this;
  },
};

/** A repository's findBy with plain values, in the transaction, at a fraction of its cost (rows.ts). */
export function findBy<T>(tx: Tx, entity: EntitySchema<T>, where: Partial<T>): Promise<T[]> {
  return findRows(tx, tx.dataSource, entity, where);
}

/** A repository's findOneBy with plain values, in the transaction, at a fraction of its cost (rows.ts). */
export function findOneBy<T>(tx: Tx, entity: EntitySchema<T>, where: Partial<T>): Promise<T | null> {
  return findRow(tx, tx.dataSource, entity, where);
}

/** A committed transaction: its value, and when it is on disk (rejects with NotDurableError if it is not). */
interface Committed<T> {
  readonly value: T;
  readonly durable: Promise<void>;
}

/** How a dialect runs the store's writes and reads. */
interface Transactions {
  readonly write: Store['write'];
  readonly reads: Pick<SqlTx, 'all'>;
  /** After the writes under way (and, on SQLite, their syncs) are done. */
  close(): Promise<void>;
}

/**
 * SQLite: one connection, which TypeORM opened. Transactions begin IMMEDIATE (the write lock first, so
 * another process on the file can make us wait but never fail a transaction halfway), and their statements
 * go to the connection directly (sqlite.ts, better-sqlite.ts), where TypeORM would prepare each one anew.
 * Writes go through a GroupCommitWriter, which commits concurrent ones together.
 */
function sqliteTransactions(dataSource: DataSource, walSync: WalSync | undefined): Transactions {
  const connection = (dataSource.driver as unknown as { databaseConnection: unknown }).databaseConnection;
  const inThread = dataSource.options.type === 'better-sqlite3';
  const statements = inThread
    ? new BetterSqliteStatements(connection as BetterSqlite3.Database)
    : new SqliteStatements(connection as sqlite3.Database);
  const { run, all } = statements.tx;
  // node-sqlite3 waits for a lock in SQLite's busy handler, on its own thread; better-sqlite3 would wait in
  // the main thread, so there BEGIN fails at once and is tried again from a timer (beginWaitingForLock).
  const begin = inThread
    ? () => beginWaitingForLock(() => statements.exec('BEGIN IMMEDIATE'))
    : () => statements.exec('BEGIN IMMEDIATE');
  /** Runs and commits `work`; the sync that makes it durable is under way, not awaited. */
  async function commit<T>(work: (tx: Tx) => Promise<T>, lazy: boolean): Promise<Committed<T>> {
    // A sync failed: nothing may be written any more, lazily or not (wal-sync.ts), until a restart.
    if (walSync?.failure) throw walSync.failure;
    await begin();
    let value: T;
    try {
      // The manager (a query runner of its own) only for the work that asks for it: most use run and all.
      let manager: EntityManager | undefined;
      value = await work({
        run,
        all,
        dataSource,
        get manager() {
          manager ??= dataSource.createQueryRunner().manager;
          return manager;
        },
      });
      await statements.exec('COMMIT');
    } catch (error) {
      await statements.exec('ROLLBACK').catch(() => undefined);
      throw error;
    }
    if (lazy || !walSync) {
      walSync?.syncSoon();
      return { value, durable: Promise.resolve() };
    }
    return { value, durable: walSync.sync() };
  }
  const writer = new GroupCommitWriter(commit, inThread);
  return {
    reads: { all },
    write: (work, options) => writer.write(work, options?.durability === 'lazy'),
    close: async () => {
      await writer.drain();
      await statements.finalizeAll();
      await walSync?.close();
    },
  };
}

/**
 * BEGIN IMMEDIATE, tried again while another connection holds the write lock (SQLITE_BUSY), for up to
 * SQLITE_BUSY_TIMEOUT_MS: the wait node-sqlite3 gets from SQLite's busy handler, without blocking the thread.
 */
export async function beginWaitingForLock(
  begin: () => Promise<void>,
  timeoutMs = SQLITE_BUSY_TIMEOUT_MS,
  now: () => number = performance.now.bind(performance),
): Promise<void> {
  const deadline = now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      return await begin();
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || now() >= deadline) throw error;
    }
    await new Promise((resume) => setTimeout(resume, delay));
  }
}

/** What node-postgres answers (the parts used here). */
interface PgResult {
  rows: unknown[];
  rowCount: number | null;
}
interface PgQueryable {
  query(config: { name: string; text: string; values: unknown[] }): Promise<PgResult>;
}

/**
 * A named (server-side prepared) statement: PostgreSQL plans it once per connection, where TypeORM's
 * unnamed statements were planned anew on every call (the job claim: 3.1 ms of planning for 0.6 ms of
 * running; BENCHMARKS.md). The name is derived from the SQL, so one text always has one name.
 */
const statementNames = new Map<string, { name: string; text: string }>();
function namedStatement(sql: string, values: unknown[]) {
  let statement = statementNames.get(sql);
  if (!statement) {
    const text = numberPlaceholders(sql);
    statement = { name: `fx_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text };
    if (statementNames.size < 4096) statementNames.set(sql, statement);
  }
  return { name: statement.name, text: statement.text, values };
}

function postgresTransactions(dataSource: DataSource): Transactions {
  const pool = (dataSource.driver as unknown as { master: PgQueryable }).master;
  return {
    reads: {
      all: async <T>(sql: string, params: unknown[] = []) =>
        (await pool.query(namedStatement(sql, params))).rows as T[],
    },
    // Every commit waits for PostgreSQL's own flush: `durability` changes nothing here.
    async write(work) {
      const runner = dataSource.createQueryRunner();
      await runner.startTransaction();
      try {
        const client = (await runner.connect()) as PgQueryable;
        const value = await work({
          manager: runner.manager,
          dataSource,
          async run(sql, params = []) {
            return (await client.query(namedStatement(sql, params))).rowCount ?? 0;
          },
          async all<T>(sql: string, params: unknown[] = []) {
            return (await client.query(namedStatement(sql, params))).rows as T[];
          },
        });
        await runner.commitTransaction();
        return value;
      } catch (error) {
        await runner.rollbackTransaction().catch(() => undefined);
        throw error;
      } finally {
        await runner.release();
      }
    },
    close: async () => undefined,
  };
}

function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

interface PendingWrite {
  work: (tx: Tx) => Promise<unknown>;
  lazy: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * SQLite has one connection, so TypeORM would nest concurrent transactions as savepoints of each other.
 * This runs them one at a time, and takes every write that queued meanwhile into the next transaction:
 * one fsync for many acknowledgements. If a batch fails, its writes are retried one by one so that one
 * bad write cannot fail its neighbours.
 */
class GroupCommitWriter {
  readonly #queue: PendingWrite[] = [];
  #running: Promise<void> | undefined;

  constructor(
    private readonly commit: <T>(work: (tx: Tx) => Promise<T>, lazy: boolean) => Promise<Committed<T>>,
    /**
     * Start a batch from the next turn of the event loop, so that every write asked for in this turn joins
     * it. On better-sqlite3, where a transaction runs without leaving the thread, a batch started at once
     * would hold only the first write, and each write would pay its own fsync. (On node-sqlite3 the BEGIN's
     * trip through the thread pool gives the others that turn already.)
     */
    private readonly gatherOneTurn = false,
  ) {}

  write<T>(work: (tx: Tx) => Promise<T>, lazy = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, lazy, resolve: resolve as (v: unknown) => void, reject });
      this.#kick();
    });
  }

  async drain(): Promise<void> {
    while (this.#running) await this.#running;
    await Promise.allSettled([...this.#syncing]);
  }

  /** Batches committed whose sync is under way. */
  readonly #syncing = new Set<Promise<void>>();

  /** Resolves a committed batch's writes once it is on disk; the loop goes on meanwhile. */
  #acknowledgeWhenDurable(items: readonly PendingWrite[], committed: Committed<unknown[]>): void {
    const acknowledged = committed.durable.then(
      () => {
        for (const [i, item] of items.entries()) item.resolve(committed.value[i]);
      },
      // Committed but not synced: running them again would do them twice.
      (error: unknown) => {
        for (const item of items) item.reject(error);
      },
    );
    this.#syncing.add(acknowledged);
    void acknowledged.finally(() => this.#syncing.delete(acknowledged));
  }

  #kick(): void {
    if (this.#running) return;
    const started = this.gatherOneTurn
      ? new Promise<void>((turn) => setImmediate(turn)).then(() => this.#loop())
      : this.#loop();
    this.#running = started.finally(() => {
      this.#running = undefined;
      // A write queued after the loop's last look but before this callback would otherwise wait forever.
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #loop(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, 128);
      // The batch waits for the disk if any of its writes must.
      const lazy = batch.every((item) => item.lazy);
      // When the syncs run on the thread pool (a slow disk), the next batch commits while this one's sync runs
      // (WalSync runs one sync at a time and the next covers every commit made meanwhile): the writer never
      // waits for the disk, only the callers do. In the main thread, the sync is done when commit returns.
      let committed: Committed<unknown[]>;
      try {
        committed = await this.commit(async (tx) => {
          const out: unknown[] = [];
          for (const item of batch) out.push(await item.work(tx));
          return out;
        }, lazy);
      } catch (error) {
        if (batch.length === 1) {
          batch[0]?.reject(error);
          continue;
        }
        // Rolled back: each write on its own, so that one bad write cannot fail its neighbours.
        for (const item of batch) {
          try {
            const alone = await this.commit(async (tx) => [await item.work(tx)], item.lazy);
            this.#acknowledgeWhenDurable([item], alone);
          } catch (itsError) {
            item.reject(itsError);
          }
        }
        continue;
      }
      this.#acknowledgeWhenDurable(batch, committed);
    }
  }
}

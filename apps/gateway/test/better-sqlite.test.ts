// The store on better-sqlite3 (2595e85): kept statements and their bindable parameters, commits with NORMAL
// plus a sync of the write-ahead log before a write resolves, BEGIN retried from a timer while another
// connection holds the lock, and writes of one turn gathered into one transaction. The suite runs on both
// bindings (SQLITE_DRIVER=sqlite3 too); what exists only on better-sqlite3 is skipped on the other.
import fs, { statSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import sqlite3 from 'sqlite3';
import { type DataSource, MigrationExecutor } from 'typeorm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { enqueueJob } from '../src/outbox/jobs.js';
import { OutboxWorker } from '../src/outbox/worker.js';
import { BetterSqliteStatements, PREPARED_STATEMENTS } from '../src/store/better-sqlite.js';
import { beginWaitingForLock, openStore, type Store } from '../src/store/index.js';
import { SQLITE_BUSY_TIMEOUT_MS, SqliteStatements } from '../src/store/sqlite.js';
import {
  NotDurableError,
  SLOW_DISK_SPELL_MS,
  SLOW_SYNC_MS,
  SLOW_SYNC_REPORT_MS,
  type SyncThread,
  slowSyncReport,
  WalSync,
} from '../src/store/wal-sync.js';
import {
  holdWriteLock,
  runsKeptStatements,
  tempDatabaseUrl,
  testSqliteDriver,
  testStoreOptions,
} from './support.js';

const silent = pino({ level: 'silent' });
const onBetterSqlite = testSqliteDriver === 'better-sqlite3';
const onlyOnBetterSqlite3 =
  'better-sqlite3 only: on node-sqlite3 SQLite itself syncs each commit (synchronous=FULL) and the store syncs nothing';

const stores: Store[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function freshStore(url = tempDatabaseUrl(), syncThread?: SyncThread): Promise<Store> {
  const store = await openStore(url, silent, { ...testStoreOptions, syncThread });
  stores.push(store);
  return store;
}

const insertExam = `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, candidate, state, received_at, updated_at)
                    VALUES (?, 't', 'a', ?, '{}', 'pending_approval', 1, 1)`;
const examIds = async (store: Store) =>
  (await store.reads.all<{ id: string }>('SELECT exam_id AS id FROM exams ORDER BY exam_id')).map(
    (r) => r.id,
  );

/** The store's own SQLite connection (either binding's), as TypeORM opened it. */
function connectionOf(store: Store): { exec: (sql: string, ...rest: unknown[]) => unknown } {
  return (store.dataSource.driver as unknown as { databaseConnection: never }).databaseConnection;
}

/** Counts the BEGINs the store sends on its connection from now on. */
function countBegins(store: Store): { readonly count: number } {
  const connection = connectionOf(store);
  const exec = connection.exec;
  const counter = { count: 0 };
  connection.exec = function (this: unknown, sql: string, ...rest: unknown[]) {
    if (/^BEGIN\b/i.test(sql)) counter.count++;
    return exec.call(this, sql, ...rest);
  };
  return counter;
}

/**
 * The store's syncs on libuv's thread pool (`fs.fdatasync`, which WalSync calls through the module object, so
 * a spy sees it): each waits for `hold` (if given) before the real sync runs; `onSync` sees its descriptor.
 */
function spyOnPoolSyncs(hold?: () => Promise<void>, onSync?: (descriptor: number) => void) {
  const fdatasync = fs.fdatasync;
  return vi
    .spyOn(fs, 'fdatasync')
    .mockImplementation((descriptor: number, done: (error: NodeJS.ErrnoException | null) => void) => {
      onSync?.(descriptor);
      void (hold?.() ?? Promise.resolve()).then(() => fdatasync(descriptor, done));
    });
}

/** Syncs that fail as a disk's EIO does, in the thread the store syncs in; `onSync` sees each one. */
function failSyncs(
  thread: SyncThread,
  failure: Error,
  options: { once?: boolean; onSync?: () => void } = {},
) {
  const fail = (_: number, done?: (error: NodeJS.ErrnoException) => void) => {
    options.onSync?.();
    if (!done) throw failure; // fdatasyncSync
    queueMicrotask(() => done(failure));
  };
  const spy = vi.spyOn(fs, thread === 'thread-pool' ? 'fdatasync' : 'fdatasyncSync') as unknown as {
    mockImplementation(f: typeof fail): unknown;
    mockImplementationOnce(f: typeof fail): unknown;
  };
  if (options.once) spy.mockImplementationOnce(fail);
  else spy.mockImplementation(fail);
}

const threads: SyncThread[] = ['main-while-quick', 'thread-pool'];

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

const nextTimer = (ms = 5) => new Promise((resume) => setTimeout(resume, ms));

describe('BetterSqliteStatements', () => {
  /** An in-memory database whose prepare() calls are counted. */
  function countingDatabase() {
    const db = new BetterSqlite3(':memory:');
    const prepare = db.prepare.bind(db);
    const counter = { prepared: 0 };
    db.prepare = ((sql: string) => {
      counter.prepared++;
      return prepare(sql);
    }) as typeof db.prepare;
    return { db, counter };
  }

  it('prepares a statement once and runs it again with new parameters; reports changed rows and rows read', async () => {
    const { db, counter } = countingDatabase();
    const statements = new BetterSqliteStatements(db);
    await runsKeptStatements(statements);
    expect(counter.prepared).toBe(3);
    await statements.finalizeAll();
    db.close();
  });

  it(`keeps the ${PREPARED_STATEMENTS} most recently used statements and prepares the one it let go again`, async () => {
    const { db, counter } = countingDatabase();
    const statements = new BetterSqliteStatements(db);
    const select = (n: number) => statements.tx.all(`SELECT ${n} AS n`);
    for (let n = 0; n < PREPARED_STATEMENTS; n++) await select(n);
    expect(counter.prepared).toBe(PREPARED_STATEMENTS);
    await select(0); // kept, and now the most recently used: statement 1 is the oldest
    expect(counter.prepared).toBe(PREPARED_STATEMENTS);
    await select(PREPARED_STATEMENTS); // one past the limit: lets statement 1 go
    expect(counter.prepared).toBe(PREPARED_STATEMENTS + 1);
    await select(0);
    await select(2);
    expect(counter.prepared).toBe(PREPARED_STATEMENTS + 1);
    expect(await select(1)).toEqual([{ n: 1 }]);
    expect(counter.prepared).toBe(PREPARED_STATEMENTS + 2);
    db.close();
  });

  it('rejects the promise of a statement SQLite refuses (as node-sqlite3 does), instead of throwing', async () => {
    const db = new BetterSqlite3(':memory:');
    const statements = new BetterSqliteStatements(db);
    const pending = statements.tx.all('SELECT nope FROM nowhere');
    await expect(pending).rejects.toMatchObject({ code: 'SQLITE_ERROR', message: /no such table/ });
    db.close();
  });

  it('binds a boolean, undefined and a Date as node-sqlite3 does: the same statements store and find the same rows', async () => {
    const create = 'CREATE TABLE t (k TEXT PRIMARY KEY, flag INTEGER, note TEXT, at INTEGER)';
    const insert = 'INSERT INTO t (k, flag, note, at) VALUES (?, ?, ?, ?)';
    const rows: unknown[][] = [
      ['a', true, undefined, new Date(Date.UTC(2026, 10, 25, 8, 30, 0, 123))],
      ['b', false, 'x', new Date(0)],
    ];
    const select = `SELECT k, flag, typeof(flag) AS flag_type, note, typeof(note) AS note_type, at, typeof(at) AS at_type
                    FROM t ORDER BY k`;
    const asked: Array<[string, unknown[]]> = [
      ['SELECT k FROM t WHERE flag = ?', [true]],
      ['SELECT k FROM t WHERE flag = ?', [false]],
      ['SELECT k FROM t WHERE note IS ?', [undefined]],
      ['SELECT k FROM t WHERE at = ?', [new Date(0)]],
    ];
    async function through(statements: SqliteStatements | BetterSqliteStatements) {
      await statements.exec(create);
      for (const params of rows) expect(await statements.tx.run(insert, params)).toBe(1);
      const found = [];
      for (const [sql, params] of asked) found.push(await statements.tx.all(sql, params));
      return { stored: await statements.tx.all(select), found };
    }

    const params = rows[0]!;
    const before = [...params];
    const better = new BetterSqlite3(':memory:');
    // What reaches better-sqlite3 itself: its version 12 binds undefined as NULL on its own (src/util/data.cpp),
    // so the rows alone would not show that bindable() converts it.
    const bound: unknown[][] = [];
    const prepare = better.prepare.bind(better);
    better.prepare = ((sql: string) => {
      const statement = prepare(sql);
      const run = statement.run.bind(statement);
      if (sql === insert)
        statement.run = (...args: unknown[]) => {
          bound.push(args);
          return run(...args);
        };
      return statement;
    }) as typeof better.prepare;
    const fromBetter = await through(new BetterSqliteStatements(better));
    expect(params).toStrictEqual(before); // converted in a copy: the caller's parameters are left as they were
    expect(bound).toStrictEqual([
      ['a', 1, null, Date.UTC(2026, 10, 25, 8, 30, 0, 123)],
      ['b', 0, 'x', 0],
    ]);
    better.close();
    const node = await new Promise<sqlite3.Database>((resolve, reject) => {
      const db = new sqlite3.Database(':memory:', (err) => (err ? reject(err) : resolve(db)));
    });
    const nodeStatements = new SqliteStatements(node);
    const fromNode = await through(nodeStatements);
    await nodeStatements.finalizeAll();
    await new Promise((closed) => node.close(closed));

    expect(fromBetter).toEqual(fromNode);
    expect(fromBetter.stored).toEqual([
      {
        k: 'a',
        flag: 1,
        flag_type: 'integer',
        note: null,
        note_type: 'null',
        at: Date.UTC(2026, 10, 25, 8, 30, 0, 123),
        at_type: 'integer',
      },
      { k: 'b', flag: 0, flag_type: 'integer', note: 'x', note_type: 'text', at: 0, at_type: 'integer' },
    ]);
    expect(fromBetter.found).toEqual([[{ k: 'a' }], [{ k: 'b' }], [{ k: 'a' }], [{ k: 'b' }]]);
  });
});

describe('the store commits with NORMAL and syncs the write-ahead log itself (better-sqlite3)', () => {
  it('applies the migrations with synchronous=FULL, then runs with NORMAL on better-sqlite3 (FULL on node-sqlite3)', async () => {
    const duringMigrations: number[] = [];
    const executePendingMigrations = MigrationExecutor.prototype.executePendingMigrations;
    vi.spyOn(MigrationExecutor.prototype, 'executePendingMigrations').mockImplementation(async function (
      this: MigrationExecutor,
    ) {
      const { connection } = this as unknown as { connection: DataSource };
      duringMigrations.push((await connection.query('PRAGMA synchronous'))[0].synchronous);
      return executePendingMigrations.call(this);
    });
    const store = await freshStore();
    const FULL = 2;
    const NORMAL = 1;
    expect(duringMigrations).toEqual([FULL]);
    expect((await store.dataSource.query('PRAGMA synchronous'))[0].synchronous).toBe(
      onBetterSqlite ? NORMAL : FULL,
    );
  });

  it.skipIf(!onBetterSqlite)(
    `by default a write resolves after a datasync of the database's -wal file in the main thread, none on the thread pool (${onlyOnBetterSqlite3})`,
    async () => {
      const url = tempDatabaseUrl();
      const store = await freshStore(url);
      const walInode = statSync(`${url.slice('sqlite:'.length)}-wal`).ino;
      let resolved = false;
      const synced: Array<{ inode: number; resolvedBefore: boolean }> = [];
      const fdatasyncSync = fs.fdatasyncSync;
      vi.spyOn(fs, 'fdatasyncSync').mockImplementation((descriptor: number) => {
        synced.push({ inode: fs.fstatSync(descriptor).ino, resolvedBefore: resolved });
        fdatasyncSync(descriptor);
      });
      const pool = spyOnPoolSyncs();
      await store
        .write((tx) => tx.run(insertExam, ['d-0', 'ev-d-0']))
        .then(() => {
          resolved = true;
        });
      expect(synced).toEqual([{ inode: walInode, resolvedBefore: false }]);
      expect(pool).not.toHaveBeenCalled();
      expect(await examIds(store)).toEqual(['d-0']);
    },
  );

  it.skipIf(!onBetterSqlite)(
    `on the thread pool, a write resolves only after the datasync of the database's -wal file has completed (${onlyOnBetterSqlite3})`,
    async () => {
      const url = tempDatabaseUrl();
      const store = await freshStore(url, 'thread-pool');
      const walInode = statSync(`${url.slice('sqlite:'.length)}-wal`).ino;
      const syncing = deferred<number>();
      const finishSync = deferred();
      spyOnPoolSyncs(
        () => finishSync.promise,
        (descriptor) => syncing.resolve(fs.fstatSync(descriptor).ino),
      );
      const inMainThread = vi.spyOn(fs, 'fdatasyncSync');

      let resolved = false;
      const write = store
        .write((tx) => tx.run(insertExam, ['d-1', 'ev-d-1']))
        .then((changes) => {
          resolved = true;
          return changes;
        });
      // The write settling first (nothing synced, or the sync not awaited) fails below.
      const syncedFile = await Promise.race([syncing.promise, write.then(() => 'resolved before any sync')]);
      expect(syncedFile).toBe(walInode);
      for (let i = 0; i < 3; i++) await nextTimer();
      expect(resolved).toBe(false);
      expect(await examIds(store)).toEqual(['d-1']); // committed already: only the sync is awaited

      finishSync.resolve();
      expect(await write).toBe(1);
      expect(resolved).toBe(true);
      expect(inMainThread).not.toHaveBeenCalled();
    },
  );

  for (const thread of threads)
    it.skipIf(!onBetterSqlite)(
      `a sync that fails (${thread}) rejects every write of its batch with NotDurableError, and runs none of them again (${onlyOnBetterSqlite3})`,
      async () => {
        const store = await freshStore(undefined, thread);
        const failure = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        failSyncs(thread, failure, { once: true });
        const runs = [0, 0, 0];
        const writes = runs.map((_, i) =>
          store.write(async (tx) => {
            runs[i]!++;
            return tx.run(insertExam, [`nd-${i}`, `ev-nd-${i}`]);
          }),
        );
        const outcomes = await Promise.allSettled(writes);
        for (const outcome of outcomes) {
          expect(outcome.status).toBe('rejected');
          const error = (outcome as PromiseRejectedResult).reason;
          expect(error).toBeInstanceOf(NotDurableError);
          expect(error).toMatchObject({ code: 'not_durable', cause: failure });
        }
        expect(runs).toEqual([1, 1, 1]);
        // They were committed (running them again would have done each twice), only not acknowledged.
        expect(await examIds(store)).toEqual(['nd-0', 'nd-1', 'nd-2']);
        // Stricter than a retry: after a failed fsync Linux may report the next one as a success with the
        // failed pages lost ("fsyncgate"), so no later write is acknowledged either (/readyz's write fails too).
        await expect(store.write((tx) => tx.run(insertExam, ['nd-3', 'ev-nd-3']))).rejects.toBeInstanceOf(
          NotDurableError,
        );
      },
    );

  it.skipIf(!onBetterSqlite)(
    `on the thread pool, commits go on while a sync runs; the commits made meanwhile share the next sync, and none resolves before its own (${onlyOnBetterSqlite3})`,
    async () => {
      const store = await freshStore(undefined, 'thread-pool');
      const finishes: Array<() => void> = [];
      spyOnPoolSyncs(() => new Promise<void>((finish) => finishes.push(finish)));
      const resolved = new Set<string>();
      const write = (id: string) =>
        store.write((tx) => tx.run(insertExam, [id, `ev-${id}`])).then(() => void resolved.add(id));
      const first = write('p-1');
      for (let i = 0; i < 3; i++) await nextTimer();
      expect(finishes).toHaveLength(1); // p-1's sync runs (stalled)
      // Two more batches commit while it runs: the writer does not wait for the disk.
      const second = write('p-2');
      for (let i = 0; i < 3; i++) await nextTimer();
      const third = write('p-3');
      for (let i = 0; i < 3; i++) await nextTimer();
      expect(await examIds(store)).toEqual(['p-1', 'p-2', 'p-3']);
      expect(finishes).toHaveLength(1);
      // The first sync ends: p-1 only; p-2 and p-3 committed after it began, so they wait for one more.
      finishes[0]?.();
      await first;
      for (let i = 0; i < 3; i++) await nextTimer();
      expect([...resolved]).toEqual(['p-1']);
      expect(finishes).toHaveLength(2);
      finishes[1]?.();
      await Promise.all([second, third]);
      expect([...resolved].sort()).toEqual(['p-1', 'p-2', 'p-3']);
      expect(finishes).toHaveLength(2); // one sync for both
    },
  );

  it.skipIf(!onBetterSqlite)(
    `a lazy write resolves at its commit; a write that waits for the disk after it syncs both (${onlyOnBetterSqlite3})`,
    async () => {
      const store = await freshStore(undefined, 'thread-pool');
      const finishSync = deferred();
      const syncs = spyOnPoolSyncs(() => finishSync.promise);
      // Resolves although no sync can finish.
      expect(await store.write((tx) => tx.run(insertExam, ['l-1', 'ev-l-1']), { durability: 'lazy' })).toBe(
        1,
      );
      let resolved = false;
      const durable = store
        .write((tx) => tx.run(insertExam, ['l-2', 'ev-l-2']))
        .then((changes) => {
          resolved = true;
          return changes;
        });
      for (let i = 0; i < 3; i++) await nextTimer();
      expect(resolved).toBe(false);
      expect(syncs).toHaveBeenCalled();
      finishSync.resolve();
      expect(await durable).toBe(1);
      expect(await examIds(store)).toEqual(['l-1', 'l-2']);
    },
  );

  for (const thread of threads)
    it.skipIf(!onBetterSqlite)(
      `a lazy write alone is synced within LAZY_SYNC_MS (${thread}), and a failure of that sync fails every later write (${onlyOnBetterSqlite3})`,
      async () => {
        const store = await freshStore(undefined, thread);
        const failure = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        const synced = deferred();
        failSyncs(thread, failure, { onSync: () => synced.resolve() });
        expect(
          await store.write((tx) => tx.run(insertExam, ['ls-1', 'ev-ls-1']), { durability: 'lazy' }),
        ).toBe(1);
        await synced.promise; // no other write asked for one: the lazy write's own timer did
        const later = store.write((tx) => tx.run(insertExam, ['ls-2', 'ev-ls-2']));
        await expect(later).rejects.toBeInstanceOf(NotDurableError);
        await expect(later).rejects.toMatchObject({ cause: failure });
        // Nor does the worker go on acting on writes that cannot reach the disk: lazy ones are refused too,
        // before anything is written.
        const lazyLater = store.write((tx) => tx.run(insertExam, ['ls-3', 'ev-ls-3']), {
          durability: 'lazy',
        });
        await expect(lazyLater).rejects.toBeInstanceOf(NotDurableError);
        expect(await examIds(store)).toEqual(['ls-1']);
      },
    );
});

describe('WalSync: the main thread syncs while the disk is quick', () => {
  /** A WalSync on a file of its own, on a clock each sync in the main thread moves on by `tookMs()`. */
  function timedWalSync(tookMs: () => number, onSlowSync?: (tookMs: number) => void) {
    const file = `${tempDatabaseUrl().slice('sqlite:'.length)}-wal`;
    fs.writeFileSync(file, 'log');
    let clock = 1_000;
    const fdatasyncSync = fs.fdatasyncSync;
    const here = vi.spyOn(fs, 'fdatasyncSync').mockImplementation((descriptor: number) => {
      fdatasyncSync(descriptor);
      clock += tookMs();
    });
    const pool = spyOnPoolSyncs();
    const walSync = new WalSync(file, { now: () => clock, onSlowSync });
    return {
      walSync,
      here,
      pool,
      wait: (ms: number) => {
        clock += ms;
      },
    };
  }

  it(`a sync over SLOW_SYNC_MS (${SLOW_SYNC_MS} ms) sends the next SLOW_DISK_SPELL_MS of syncs to the thread pool; then the main thread tries again`, async () => {
    let took = SLOW_SYNC_MS + 1;
    const { walSync, here, pool, wait } = timedWalSync(() => took);
    await walSync.sync();
    expect([here.mock.calls.length, pool.mock.calls.length]).toEqual([1, 0]);
    took = 0;
    await walSync.sync();
    wait(SLOW_DISK_SPELL_MS - 1);
    await walSync.sync();
    expect([here.mock.calls.length, pool.mock.calls.length]).toEqual([1, 2]);
    wait(1);
    await walSync.sync();
    await walSync.sync();
    expect([here.mock.calls.length, pool.mock.calls.length]).toEqual([3, 2]);
    await walSync.close();
  });

  it(`syncs taking up to SLOW_SYNC_MS stay in the main thread, and only a slower one is reported`, async () => {
    const took = [SLOW_SYNC_MS, 1, SLOW_SYNC_MS + 5];
    const slow: number[] = [];
    const { walSync, here, pool } = timedWalSync(
      () => took.shift() ?? 0,
      (ms) => slow.push(ms),
    );
    for (let i = 0; i < 3; i++) await walSync.sync();
    expect([here.mock.calls.length, pool.mock.calls.length]).toEqual([3, 0]);
    expect(slow).toEqual([SLOW_SYNC_MS + 5]);
    await walSync.close();
  });

  it(`slowSyncReport warns at the first slow sync, then at most once every SLOW_SYNC_REPORT_MS with the count since`, () => {
    let clock = 0;
    const lines: Array<{ slowSyncs: number; slowestMs: number }> = [];
    const report = slowSyncReport(
      (fields, message) => {
        expect(message).toContain('thread pool');
        lines.push(fields);
      },
      () => clock,
    );
    report(25.4);
    expect(lines).toEqual([{ slowSyncs: 1, slowestMs: 25 }]);
    for (const ms of [30, 80, 41]) {
      clock += 1_000;
      report(ms);
    }
    expect(lines).toHaveLength(1);
    clock = SLOW_SYNC_REPORT_MS;
    report(22);
    expect(lines).toEqual([
      { slowSyncs: 1, slowestMs: 25 },
      { slowSyncs: 4, slowestMs: 80 },
    ]);
  });

  it.skipIf(!onBetterSqlite)(
    `the store logs a slow sync as a warning and sends the next syncs to the thread pool (${onlyOnBetterSqlite3})`,
    async () => {
      const lines: Array<Record<string, unknown>> = [];
      const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
      const store = await openStore(tempDatabaseUrl(), log, testStoreOptions);
      stores.push(store);
      const fdatasyncSync = fs.fdatasyncSync;
      // A disk that takes longer than SLOW_SYNC_MS: the sync returns only once that much time has passed.
      vi.spyOn(fs, 'fdatasyncSync').mockImplementationOnce((descriptor: number) => {
        const started = performance.now();
        while (performance.now() - started <= SLOW_SYNC_MS + 5);
        fdatasyncSync(descriptor);
      });
      const pool = spyOnPoolSyncs();
      expect(await store.write((tx) => tx.run(insertExam, ['slow-1', 'ev-slow-1']))).toBe(1);
      expect(lines).toEqual([
        expect.objectContaining({ level: 40, slowSyncs: 1, msg: expect.stringContaining('thread pool') }),
      ]);
      expect(lines[0]?.slowestMs).toBeGreaterThan(SLOW_SYNC_MS);
      expect(pool).not.toHaveBeenCalled();
      expect(await store.write((tx) => tx.run(insertExam, ['slow-2', 'ev-slow-2']))).toBe(1);
      expect(pool).toHaveBeenCalledTimes(1);
    },
  );

  it(`'thread-pool' never syncs in the main thread`, async () => {
    const file = `${tempDatabaseUrl().slice('sqlite:'.length)}-wal`;
    fs.writeFileSync(file, 'log');
    const here = vi.spyOn(fs, 'fdatasyncSync');
    const pool = spyOnPoolSyncs();
    const walSync = new WalSync(file, { thread: 'thread-pool' });
    for (let i = 0; i < 3; i++) await walSync.sync();
    expect([here.mock.calls.length, pool.mock.calls.length]).toEqual([0, 3]);
    await walSync.close();
  });
});

describe("the outbox worker's own writes are lazy (better-sqlite3)", () => {
  it.skipIf(!onBetterSqlite)(
    `claims, runs and completes a job while the disk's sync is stalled; a write that answers a caller still waits (${onlyOnBetterSqlite3})`,
    async () => {
      const store = await freshStore(undefined, 'thread-pool');
      await store.write((tx) =>
        enqueueJob(tx, { kind: 'post_card', examId: 'lazy-1', idempotencyKey: 'post_card:lazy-1' }, 1),
      );
      const finishSync = deferred();
      spyOnPoolSyncs(() => finishSync.promise);
      const ran: string[] = [];
      const worker = new OutboxWorker(
        store,
        { post_card: async (job) => void ran.push(job.examId ?? '') },
        silent,
        { pollMs: 10, leaseMs: 5000, concurrency: 2, baseDelayMs: 1, maxDelayMs: 5 },
      );
      worker.start();
      try {
        for (let i = 0; i < 500 && worker.stats.done === 0; i++) await new Promise((r) => setTimeout(r, 10));
        expect(ran).toEqual(['lazy-1']);
        expect(worker.stats.done).toBe(1);
        const [job] = await store.reads.all<{ state: string }>('SELECT state FROM outbox_jobs');
        expect(job?.state).toBe('done');
        let answered = false;
        const acknowledged = store
          .write((tx) => tx.run(insertExam, ['lazy-1', 'ev-lazy-1']))
          .then(() => {
            answered = true;
          });
        for (let i = 0; i < 3; i++) await nextTimer();
        expect(answered).toBe(false);
        finishSync.resolve();
        await acknowledged;
      } finally {
        finishSync.resolve();
        await worker.stop();
      }
    },
  );
});

describe('beginWaitingForLock', () => {
  const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

  it('tries BEGIN again while it fails with SQLITE_BUSY, and resolves once it succeeds', async () => {
    let attempts = 0;
    await beginWaitingForLock(
      async () => {
        if (++attempts < 4) throw busy();
      },
      SQLITE_BUSY_TIMEOUT_MS,
      () => 0,
    );
    expect(attempts).toBe(4);
  });

  it('does not try again after any other error', async () => {
    let attempts = 0;
    const ioError = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
    const begin = beginWaitingForLock(
      async () => {
        attempts++;
        throw ioError;
      },
      SQLITE_BUSY_TIMEOUT_MS,
      () => 0,
    );
    await expect(begin).rejects.toBe(ioError);
    expect(attempts).toBe(1);
  });

  it('gives up with the SQLITE_BUSY error once SQLITE_BUSY_TIMEOUT_MS have passed', async () => {
    let clock = 0;
    let attempts = 0;
    const last = busy();
    const begin = beginWaitingForLock(
      async () => {
        attempts++;
        clock += SQLITE_BUSY_TIMEOUT_MS / 4; // each attempt "takes" a quarter of the timeout
        if (attempts > 20) throw new Error('still trying long past the timeout');
        throw attempts === 4 ? last : busy();
      },
      undefined, // the store's own default
      () => clock,
    );
    await expect(begin).rejects.toBe(last);
    expect(attempts).toBe(4);
  });
});

describe('a write while another connection holds the write lock', () => {
  it('waits without blocking the event loop (a timer fires meanwhile), and commits once the lock is released', async () => {
    const url = tempDatabaseUrl();
    const store = await freshStore(url);
    const begins = countBegins(store);
    const release = await holdWriteLock(url.slice('sqlite:'.length));
    let settled = false;
    const write = store
      .write((tx) => tx.run(insertExam, ['l-1', 'ev-l-1']))
      .finally(() => {
        settled = true;
      });
    // Blocking the thread in SQLite's busy handler would run this timer only once the write has given up.
    const pendingWhenTimersFired: boolean[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        await nextTimer(10);
        pendingWhenTimersFired.push(!settled);
      }
    } finally {
      await release();
    }
    expect(pendingWhenTimersFired).toEqual([true, true, true, true, true]);
    // better-sqlite3: BEGIN failed at once and was tried again from a timer; node-sqlite3 waits in SQLite.
    if (onBetterSqlite) expect(begins.count).toBeGreaterThan(1);
    else expect(begins.count).toBe(1);
    await expect(write).resolves.toBe(1);
    expect(await examIds(store)).toEqual(['l-1']);
  });
});

describe('group commit', () => {
  it('commits the writes asked for in one turn of the event loop in one transaction (better-sqlite3: one BEGIN, one sync)', async () => {
    const store = await freshStore();
    const syncs = vi.spyOn(fs, 'fdatasyncSync');
    const begins = countBegins(store);
    const writes = Array.from({ length: 10 }, (_, i) =>
      store.write((tx) => tx.run(insertExam, [`gc-${i}`, `ev-gc-${i}`])),
    );
    expect(await Promise.all(writes)).toEqual(Array(10).fill(1));
    expect((await examIds(store)).length).toBe(10);
    if (onBetterSqlite) {
      expect(begins.count).toBe(1);
      expect(syncs).toHaveBeenCalledTimes(1);
    } else {
      // node-sqlite3: the first write starts a transaction at once; the others join the next one.
      expect(begins.count).toBeLessThan(10);
      expect(syncs).not.toHaveBeenCalled();
    }
  });
});

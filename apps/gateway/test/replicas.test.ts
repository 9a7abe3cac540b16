// Several replicas on one PostgreSQL database: the races between them that a single process never has. Each
// test makes the interleaving happen (a transaction held open while the other replica's statement waits for
// it), rather than hoping for it. Runs when the suites run on PostgreSQL (TEST_DATABASE=postgres).

import {
  createProviderRegistry,
  defaultProviderContext,
  defineProvider,
  sandboxProvider,
} from '@feishu-exam/exam-providers';
import { pino } from 'pino';
import { DataSource } from 'typeorm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { claimDueCards } from '../src/outbox/card-queue.js';
import { enqueueJobs } from '../src/outbox/jobs.js';
import { openStore, type Store, type Tx } from '../src/store/index.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import {
  examCreatedEvent,
  holdingFirstMigration,
  startTestGateway,
  type TestGateway,
  testDatabaseUrl,
  testStoreOptions,
} from './support.js';

const onPostgres = process.env.TEST_DATABASE === 'postgres';
const silent = pino({ level: 'silent' });
const stores: Store[] = [];
const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  vi.restoreAllMocks();
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function until(what: string, condition: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** How many other sessions on the database wait for a lock (a row, a table, an advisory lock). */
async function sessionsWaitingForALock(observer: { query(sql: string): Promise<unknown> }): Promise<number> {
  const rows = (await observer.query(
    `SELECT COUNT(*) AS n FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
  )) as Array<{ n: string | number }>;
  return Number(rows[0]?.n ?? 0);
}

/** Whether some other session on the database waits for a lock. */
const someoneWaitsForALock = async (observer: { query(sql: string): Promise<unknown> }) =>
  (await sessionsWaitingForALock(observer)) > 0;

/** A replica: a store of its own (its own pool of connections) on the shared database. */
async function replica(url: string): Promise<Store> {
  const store = await openStore(url, silent, testStoreOptions);
  stores.push(store);
  return store;
}

/** Sessions other than the caller's inside a transaction that has written something. */
const SESSIONS_THAT_WROTE = `SELECT pid FROM pg_stat_activity
  WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL`;

const examEvent = (examId: string, eventId: string) => examCreatedEvent(examId, eventId);

/** What each settled write came to: 'written', or why it was refused. */
const howTheyEnded = (settled: PromiseSettledResult<unknown>[]) =>
  settled.map((s) => (s.status === 'rejected' ? String(s.reason) : 'written'));

/**
 * Replicas A and B write the same rows in opposite orders while replica C holds the middle one, written and
 * not committed: A and B each come to wait for C midway, A holding the rows before it in its order and B those
 * after it. When C commits, the two go on to the rows the other holds, unless both write in one order. The
 * interleaving is forced: each step waits until PostgreSQL shows the session before it waiting.
 */
async function oppositeOrdersAroundAHeldRow<T>(
  [a, b, c]: [Store, Store, Store],
  write: {
    held: (tx: Tx) => Promise<unknown>;
    inOrder: (tx: Tx) => Promise<T>;
    reversed: (tx: Tx) => Promise<T>;
  },
): Promise<PromiseSettledResult<unknown>[]> {
  let commitC: () => void = () => {};
  const cMayCommit = new Promise<void>((r) => (commitC = r));
  const onC = c.write(async (tx) => {
    const outcome = await write.held(tx);
    await cMayCommit;
    return outcome;
  });
  try {
    await until('replica C to hold its row', async () => (await a.reads.all(SESSIONS_THAT_WROTE)).length > 0);
    const onA = a.write(write.inOrder);
    await until(
      'replica A to wait for replica C',
      async () => (await sessionsWaitingForALock(c.dataSource)) === 1,
    );
    const onB = b.write(write.reversed);
    await until('replica B to wait too', async () => (await sessionsWaitingForALock(c.dataSource)) === 2);
    commitC();
    return await Promise.allSettled([onC, onA, onB]);
  } finally {
    commitC();
  }
}

describe.skipIf(!onPostgres)('replicas on one PostgreSQL database', () => {
  it('two replicas starting at once on a new database both start: one migrates, the other waits and finds it done', async () => {
    const url = testDatabaseUrl();
    // The first replica to run the first migration is held inside it until the second one either runs it
    // too (no lock between them) or waits for the first.
    const { runs, release } = holdingFirstMigration();
    const first = openStore(url, silent, testStoreOptions);
    await until('the first replica to be migrating', () => runs() === 1);
    const second = openStore(url, silent, testStoreOptions);
    // A plain connection to watch the others (a store, even one opened without migrating, takes the lock).
    const observer = new DataSource({ type: 'postgres', url });
    await observer.initialize();
    try {
      await until(
        'the second replica to run the migration too, or to wait for the first',
        async () => runs() > 1 || (await someoneWaitsForALock(observer)),
      );
      release();
      const opened = await Promise.allSettled([first, second]);
      for (const o of opened) if (o.status === 'fulfilled') stores.push(o.value);
      expect(opened.map((o) => (o.status === 'rejected' ? String(o.reason) : 'started'))).toEqual([
        'started',
        'started',
      ]);
      expect(runs()).toBe(1);
      const [a, b] = stores as [Store, Store];
      const applied = await a.reads.all<{ name: string }>('SELECT name FROM migrations');
      expect(new Set(applied.map((m) => m.name)).size).toBe(applied.length);
      expect(await b.reads.all('SELECT exam_id FROM exams')).toEqual([]);
    } finally {
      release();
      await observer.destroy();
    }
  });

  it('the same exam event pushed to two replicas at once: one creates the exam, the other answers a duplicate of the same event (not a second event for the exam)', async () => {
    const url = testDatabaseUrl();
    const a = await replica(url);
    const b = await replica(url);
    const event = examEvent('race-1', 'ev-race-1');
    // Replica A has written the exam and not committed yet when replica B's insert comes.
    let commitA: () => void = () => {};
    const aMayCommit = new Promise<void>((r) => (commitA = r));
    const onA = a.write(async (tx) => {
      const outcome = await examLifecycle.receive(tx, event, 1);
      await aMayCommit;
      return outcome;
    });
    await until(
      'replica A to hold the exam row',
      async () => (await a.reads.all(SESSIONS_THAT_WROTE)).length > 0,
    );
    const onB = b.write((tx) => examLifecycle.receive(tx, event, 2));
    await until("replica B's insert to wait for replica A's", () => someoneWaitsForALock(a.dataSource));
    commitA();
    expect([await onA, await onB]).toEqual(['created', 'duplicate_event']);
    // One card queued, on the exam row (outbox/card-queue.ts).
    expect(await a.reads.all('SELECT exam_id FROM exams WHERE card_due_at IS NOT NULL')).toHaveLength(1);
  });

  it('two replicas write the same batch of exams in opposite orders while a third holds one: neither batch is aborted as a deadlock, each exam is created once with its card queued', async () => {
    const url = testDatabaseUrl();
    const replicas: [Store, Store, Store] = [await replica(url), await replica(url), await replica(url)];
    // The same twenty pushes in flight on two replicas (Feishu re-pushed them), arrived in opposite orders, the
    // second with one more exam of its own; a third replica got a second event for one of the twenty.
    const ids = Array.from({ length: 20 }, (_, i) => `order-${String(i).padStart(2, '0')}`);
    const events = ids.map((id) => examEvent(id, `ev-${id}`));
    const settled = await oppositeOrdersAroundAHeldRow(replicas, {
      held: (tx) => examLifecycle.receiveMany(tx, [examEvent('order-10', 'ev-order-10-second')], 1),
      inOrder: (tx) => examLifecycle.receiveMany(tx, events, 2),
      reversed: (tx) =>
        examLifecycle.receiveMany(tx, [examEvent('order-20', 'ev-order-20'), ...[...events].reverse()], 3),
    });
    expect(howTheyEnded(settled)).toEqual(['written', 'written', 'written']);
    // Each replica's outcomes in its own batch's order; the one B waited for (A) created the shared exams.
    const second = (id: string, otherwise: string) => (id === 'order-10' ? 'duplicate_exam' : otherwise);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined))).toEqual([
      ['created'],
      ids.map((id) => second(id, 'created')),
      ['created', ...[...ids].reverse().map((id) => second(id, 'duplicate_event'))],
    ]);
    const everyExam = [...ids, 'order-20'];
    const [a] = replicas;
    const exams = await a.reads.all<{ exam_id: string }>('SELECT exam_id FROM exams ORDER BY exam_id');
    expect(exams.map((e) => e.exam_id)).toEqual(everyExam);
    const cards = await a.reads.all<{ exam_id: string }>(
      'SELECT exam_id FROM exams WHERE card_due_at IS NOT NULL ORDER BY exam_id',
    );
    expect(cards.map((c) => c.exam_id)).toEqual(everyExam);
  });

  it('two replicas enqueue the same jobs in opposite orders while a third holds one: neither is aborted as a deadlock, each job is queued once', async () => {
    const url = testDatabaseUrl();
    const replicas: [Store, Store, Store] = [await replica(url), await replica(url), await replica(url)];
    const jobs = Array.from({ length: 20 }, (_, i) => ({
      kind: 'refresh_card' as const,
      examId: `job-${i}`,
      idempotencyKey: `refresh_card:t1:job-${String(i).padStart(2, '0')}`,
    }));
    const settled = await oppositeOrdersAroundAHeldRow(replicas, {
      held: (tx) => enqueueJobs(tx, [jobs[10] as (typeof jobs)[number]], 1),
      inOrder: (tx) => enqueueJobs(tx, jobs, 2),
      reversed: (tx) => enqueueJobs(tx, [...jobs].reverse(), 3),
    });
    expect(howTheyEnded(settled)).toEqual(['written', 'written', 'written']);
    const queued = settled.map((s) => (s.status === 'fulfilled' ? (s.value as number) : 0));
    expect(queued.reduce((sum, n) => sum + n, 0)).toBe(jobs.length);
    const [a] = replicas;
    const keys = await a.reads.all<{ idempotency_key: string }>(
      'SELECT idempotency_key FROM outbox_jobs ORDER BY idempotency_key',
    );
    expect(keys.map((k) => k.idempotency_key)).toEqual(jobs.map((j) => j.idempotencyKey));
  });

  it("two replicas claim the same exams' queued cards at once while a third holds one of the exams: each card is claimed by one of them, and neither is aborted", async () => {
    const url = testDatabaseUrl();
    const replicas: [Store, Store, Store] = [await replica(url), await replica(url), await replica(url)];
    const [a] = replicas;
    const examIds = Array.from({ length: 20 }, (_, i) => `card-${String(i).padStart(2, '0')}`);
    await a.write((tx) =>
      examLifecycle.receiveMany(
        tx,
        examIds.map((id) => examEvent(id, `ev-${id}`)),
        1,
      ),
    );
    const settled = await oppositeOrdersAroundAHeldRow(replicas, {
      held: (tx) => tx.run("UPDATE exams SET updated_at = 2 WHERE exam_id = 'card-10'"),
      inOrder: (tx) => claimDueCards(tx, 'w-a', examIds.length, 60_000, 3, new Set()),
      reversed: (tx) => claimDueCards(tx, 'w-b', examIds.length, 60_000, 3, new Set()),
    });
    expect(howTheyEnded(settled)).toEqual(['written', 'written', 'written']);
    const claimed = settled
      .slice(1)
      .flatMap((s) => (s.status === 'fulfilled' ? (s.value as { examId: string; lockedBy: string }[]) : []));
    expect(claimed.map((c) => c.examId).sort()).toEqual(examIds);
    const rows = await a.reads.all<{ exam_id: string; card_locked_by: string }>(
      'SELECT exam_id, card_locked_by FROM exams ORDER BY exam_id',
    );
    expect(Object.fromEntries(rows.map((r) => [r.exam_id, r.card_locked_by]))).toEqual(
      Object.fromEntries(claimed.map((c) => [c.examId, c.lockedBy])),
    );
  });

  it('two replicas record different results for the same exam at once: the older never overwrites the newer, and one report is queued', async () => {
    const url = testDatabaseUrl();
    const a = await replica(url);
    const b = await replica(url);
    const exam = { tenantKey: 't1', examId: 'res-1' };
    await a.write(async (tx) => {
      await examLifecycle.receive(tx, examEvent(exam.examId, 'ev-res-1'), 1);
      await examLifecycle.approve(tx, exam, 'ou_staff', 2);
      await examLifecycle.arrangementMade(tx, exam, 'p', { examUrl: 'https://exam.example/e/1' }, 3);
      await examLifecycle.loginInfoReported(tx, exam, 4);
    });
    const newer = { score: '75', resultTime: 2_000 };
    const older = { score: '60', resultTime: 1_000 };
    // The platform's webhook lands on replica A with the regraded result while its late retry of the first
    // grading lands on replica B; A has recorded its result and not committed yet.
    let commitA: () => void = () => {};
    const aMayCommit = new Promise<void>((r) => (commitA = r));
    const onA = a.write(async (tx) => {
      const outcome = await examLifecycle.resultReceived(tx, exam, 'p', newer, 10);
      await aMayCommit;
      return outcome;
    });
    await until(
      'replica A to hold the exam row',
      async () => (await a.reads.all(SESSIONS_THAT_WROTE)).length > 0,
    );
    const onB = b.write((tx) => examLifecycle.resultReceived(tx, exam, 'p', older, 20));
    await until('replica B to wait for replica A', () => someoneWaitsForALock(a.dataSource));
    commitA();
    expect([await onA, await onB]).toEqual(['recorded', 'stale']);
    expect((await a.write((tx) => examLifecycle.find(tx, exam)))?.result).toEqual(newer);
    expect(await a.reads.all("SELECT id FROM outbox_jobs WHERE kind = 'report_result'")).toHaveLength(1);
  });

  it('two replicas schedule the result polls of one interval: one poll job per exam, not one per replica, none for a platform that cannot be asked nor past the horizon', async () => {
    const url = testDatabaseUrl();
    const seed = await replica(url);
    // 'asked' can be asked for results (fetchResult); 'sandbox' cannot (its results would come by webhook).
    const asked = defineProvider({
      id: 'asked',
      options: z.object({}),
      create: (_o, _c, id) => ({
        id,
        createExam: async (r) => ({ examUrl: `https://e.example/${r.examId}` }),
        fetchResult: async () => undefined,
      }),
    });
    const registry = createProviderRegistry(
      [asked, sandboxProvider],
      {
        providers: [
          { id: 'asked', type: 'asked' },
          { id: 'sandbox', type: 'sandbox' },
        ],
        defaultProvider: 'asked',
      },
      defaultProviderContext({}),
    );
    if (!registry.ok) throw new Error(registry.errors.join());
    // Each replica's timer fires on its own; here both fire within the same interval (their clocks 10 ms
    // apart, the interval 50 ms), and again and again at the same moment (a clock that stands still).
    const interval = 50;
    const start = 1_800_000_000_000; // a multiple of the interval
    const day = 24 * 3_600_000;
    // Arrangements reported a day before the replicas' clocks, and one 31 days before (RESULT_POLL_DAYS is 30).
    for (const [examId, providerId, reportedAt] of [
      ['poll-1', 'asked', start - day],
      ['told-1', 'sandbox', start - day],
      ['aged-1', 'asked', start - 31 * day],
    ] as const) {
      const exam = { tenantKey: 't1', examId };
      await seed.write(async (tx) => {
        await examLifecycle.receive(tx, examEvent(examId, `ev-${examId}`), 1);
        await examLifecycle.approve(tx, exam, 'ou_staff', 2);
        await examLifecycle.arrangementMade(tx, exam, providerId, { examUrl: 'https://e.example/1' }, 3);
        await examLifecycle.loginInfoReported(tx, exam, reportedAt);
      });
    }
    const fired = new Map<number, number>();
    const queueResultPolls = examLifecycle.queueResultPolls;
    vi.spyOn(examLifecycle, 'queueResultPolls').mockImplementation(async (tx, round, now, ...rest) => {
      const queued = await queueResultPolls(tx, round, now, ...rest);
      fired.set(now, (fired.get(now) ?? 0) + 1);
      return queued;
    });
    const env = { DATABASE_URL: url, RESULT_POLL_INTERVAL_MS: String(interval), PAPER_SYNC_INTERVAL_MS: '0' };
    for (const clock of [start + 10, start + 20]) {
      const gateway = await startTestGateway(env, { now: () => clock, providers: registry.registry });
      gateways.push(gateway);
    }
    await until('both replicas to have queued their rounds twice', () =>
      [start + 10, start + 20].every((clock) => (fired.get(clock) ?? 0) >= 2),
    );
    expect(await seed.reads.all("SELECT exam_id FROM outbox_jobs WHERE kind = 'poll_result'")).toEqual([
      { exam_id: 'poll-1' },
    ]);
  });
});

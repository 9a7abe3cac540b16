import { envelopeV2, type KnownEvent, parse, seal } from '@feishu-exam/event-core';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { claimDueJobs, enqueueJob, listJobs } from '../src/outbox/jobs.js';
import { type JobHandler, OutboxWorker } from '../src/outbox/worker.js';
import { ExamEntity, JobEntity, openStore, type Store } from '../src/store/index.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import { ExamIngest } from '../src/workflow/ingest.js';
import { testDatabaseUrl } from './support.js';

const silent = pino({ level: 'silent' });
const stores: Store[] = [];
async function freshStore(url = testDatabaseUrl()): Promise<Store> {
  const store = await openStore(url, silent);
  stores.push(store);
  return store;
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function examEvent(examId: string, eventId = `ev-${examId}`): KnownEvent<'hire.eco_exam.created_v1'> {
  const envelope = envelopeV2(
    'hire.eco_exam.created_v1',
    { exam_id: examId, candidate_info: { name: '王二' } },
    { eventId, tenantKey: 't1', appId: 'cli_1' },
  );
  const r = parse(seal(envelope), {});
  if (!r.ok || r.kind !== 'event' || r.event.type !== 'hire.eco_exam.created_v1') throw new Error('fixture');
  return r.event;
}

const countJobs = (store: Store, kind: string) => store.dataSource.getRepository(JobEntity).countBy({ kind });

describe('store', () => {
  it('runs migrations once: a second open of the same file finds them applied', async () => {
    const url = testDatabaseUrl();
    const first = await freshStore(url);
    await first.write((tx) => examLifecycle.receive(tx, examEvent('m-1'), 1));
    await first.close();
    stores.pop();
    const second = await freshStore(url);
    expect(await second.dataSource.getRepository(ExamEntity).countBy({ examId: 'm-1' })).toBe(1);
    if (second.dialect === 'sqlite')
      expect((await second.dataSource.query('PRAGMA journal_mode'))[0].journal_mode).toBe('wal');
  });

  it('refuses a database whose schema a newer release migrated, before writing anything', async () => {
    const url = testDatabaseUrl();
    const first = await freshStore(url);
    await first.dataSource.query(
      "INSERT INTO migrations (timestamp, name) VALUES (1799999999999, 'Future1799999999999')",
    );
    await first.close();
    stores.pop();
    await expect(openStore(url, silent)).rejects.toThrow(
      /schema is newer than this release.*Future1799999999999/,
    );
  });

  it('commits concurrent writes (group commit) and isolates a failing one from its batch', async () => {
    const store = await freshStore();
    const writes = Array.from({ length: 50 }, (_, i) =>
      store.write(async (tx) => {
        if (i === 7) throw new Error('boom');
        return examLifecycle.receive(tx, examEvent(`g-${i}`), i);
      }),
    );
    const results = await Promise.allSettled(writes);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(49);
    expect(results[7]).toMatchObject({ status: 'rejected' });
    expect(await store.dataSource.getRepository(ExamEntity).count()).toBe(49);
  });

  it('never loses a write queued while the writer is finishing (regression: lost wake-up)', async () => {
    const store = await freshStore();
    for (let round = 0; round < 200; round++) {
      await store.write(async () => round);
      // Queued in the same tick the previous loop ends: must still run.
      await expect(
        Promise.race([
          store.write(async () => 'ran'),
          new Promise((r) => setTimeout(() => r('stuck'), 2000)),
        ]),
      ).resolves.toBe('ran');
    }
  });
});

describe('examLifecycle', () => {
  it('creates an exam once: the same event 5 times, and a second event for the same exam, create nothing new', async () => {
    const store = await freshStore();
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () => store.write((tx) => examLifecycle.receive(tx, examEvent('d-1'), 1))),
    );
    outcomes.push(await store.write((tx) => examLifecycle.receive(tx, examEvent('d-1', 'ev-other'), 2)));
    expect(outcomes.sort()).toEqual([
      'created',
      'duplicate_event',
      'duplicate_event',
      'duplicate_event',
      'duplicate_event',
      'duplicate_exam',
    ]);
    expect(await countJobs(store, 'post_card')).toBe(1);
    const exam = await store.dataSource.getRepository(ExamEntity).findOneByOrFail({ examId: 'd-1' });
    expect(exam).toMatchObject({
      state: 'pending_approval',
      tenantKey: 't1',
      appId: 'cli_1',
      candidate: { name: '王二' },
    });
  });

  it('batches concurrent arrivals: duplicates inside one batch are caught too, and each caller gets its outcome', async () => {
    const store = await freshStore();
    let wakes = 0;
    let commits = 0;
    const write = store.write;
    const counted: Store = {
      ...store,
      write: (work) => {
        commits++;
        return write(work);
      },
    };
    const ingest = new ExamIngest(
      counted,
      () => 1,
      () => wakes++,
    );
    const events = [
      ...Array.from({ length: 5 }, () => examEvent('b-1')),
      examEvent('b-1', 'ev-b-1-again'),
      ...Array.from({ length: 40 }, (_, i) => examEvent(`b-${i + 2}`)),
    ];
    const outcomes = await Promise.all(events.map((e) => ingest.receive(e)));
    expect(outcomes.slice(0, 6)).toEqual([
      'created',
      'duplicate_event',
      'duplicate_event',
      'duplicate_event',
      'duplicate_event',
      'duplicate_exam',
    ]);
    expect(outcomes.slice(6).every((o) => o === 'created')).toBe(true);
    // All 46 arrived in one turn of the event loop: one transaction, not the first alone and then the rest.
    expect(commits).toBe(1);
    expect(await countJobs(store, 'post_card')).toBe(41);
    expect(await store.dataSource.getRepository(ExamEntity).count()).toBe(41);
    expect(wakes).toBeGreaterThan(0);
    const again = await ingest.receive(examEvent('b-1'));
    expect(again).toBe('duplicate_event');
  });

  it('lets exactly one of many racing decisions win, and queues exactly one follow-up job', async () => {
    const store = await freshStore();
    await store.write((tx) => examLifecycle.receive(tx, examEvent('r-1'), 1));
    const decisions = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.write((tx) =>
          i % 2
            ? examLifecycle.reject(tx, 'r-1', `ou_${i}`, 'no', 5)
            : examLifecycle.approve(tx, 'r-1', `ou_${i}`, 5),
        ),
      ),
    );
    const winners = decisions.filter((d) => d.ok);
    expect(winners).toHaveLength(1);
    const losers = decisions.filter((d) => !d.ok);
    for (const loser of losers) expect(loser).toMatchObject({ ok: false, reason: 'wrong_state' });
    const followUps = (await countJobs(store, 'arrange')) + (await countJobs(store, 'report_login_info'));
    expect(followUps).toBe(1);
  });

  it('refuses transitions out of final states and on unknown exams', async () => {
    const store = await freshStore();
    await store.write((tx) => examLifecycle.receive(tx, examEvent('f-1'), 1));
    expect((await store.write((tx) => examLifecycle.reject(tx, 'f-1', 'ou_a', 'bad paper', 2))).ok).toBe(
      true,
    );
    expect(await store.write((tx) => examLifecycle.approve(tx, 'f-1', 'ou_b', 3))).toMatchObject({
      ok: false,
      reason: 'wrong_state',
      exam: { state: 'rejected', decidedBy: 'ou_a', rejectReason: 'bad paper' },
    });
    expect(await store.write((tx) => examLifecycle.approve(tx, 'nope', 'ou_b', 3))).toEqual({
      ok: false,
      reason: 'not_found',
    });
  });
});

describe('outbox', () => {
  const options = { pollMs: 20, leaseMs: 200, concurrency: 4, baseDelayMs: 1, maxDelayMs: 5 };
  const until = async (check: () => Promise<boolean>) => {
    for (let i = 0; i < 400; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('condition never held');
  };
  const noop: JobHandler = async () => undefined;
  const handlers = (overrides: Partial<Record<string, JobHandler>>) => ({
    post_card: noop,
    arrange: noop,
    report_login_info: noop,
    refresh_card: noop,
    notify_dead: noop,
    sync_papers: noop,
    report_result: noop,
    register_custom_fields: noop,
    poll_result: noop,
    ...overrides,
  });

  it('deduplicates enqueues by idempotency key', async () => {
    const store = await freshStore();
    const first = await store.write((tx) => enqueueJob(tx, { kind: 'arrange', idempotencyKey: 'k' }, 1));
    const again = await store.write((tx) => enqueueJob(tx, { kind: 'arrange', idempotencyKey: 'k' }, 2));
    expect([first, again]).toEqual([true, false]);
  });

  it('retries a failing job with backoff until it succeeds, and commits the handler result with completion', async () => {
    const store = await freshStore();
    await store.write((tx) => examLifecycle.receive(tx, examEvent('o-1'), 1));
    let calls = 0;
    const worker = new OutboxWorker(
      store,
      handlers({
        post_card: async () => {
          calls++;
          if (calls < 3) throw new Error(`flaky ${calls}`);
          return (tx, now) => examLifecycle.cardPosted(tx, 'o-1', 'om_1', now);
        },
      }),
      silent,
      options,
    );
    worker.start();
    await until(
      async () =>
        (await store.dataSource.getRepository(ExamEntity).findOneByOrFail({ examId: 'o-1' }))
          .cardMessageId === 'om_1',
    );
    await worker.stop();
    expect(calls).toBe(3);
    expect(worker.stats).toMatchObject({ done: 1, retried: 2, dead: 0 });
    const [job] = await store.write((tx) => listJobs(tx, 'done'));
    expect(job).toMatchObject({ kind: 'post_card', attempts: 3, state: 'done', lastError: null });
  });

  it('yields to ingest: claims nothing while a burst is on, then runs the jobs; never waits past maxYieldMs', async () => {
    const store = await freshStore();
    await store.write((tx) => enqueueJob(tx, { kind: 'arrange', examId: 'b', idempotencyKey: 'burst' }, 1));
    const ran: string[] = [];
    const recording = handlers({
      arrange: async (job) => {
        ran.push(job.id);
        return undefined;
      },
    });
    let burst = true;
    let asked = 0;
    const worker = new OutboxWorker(store, recording, silent, {
      ...options,
      maxYieldMs: 60_000,
      yieldTo: () => {
        asked++;
        return burst;
      },
    });
    worker.start();
    await until(async () => asked >= 5);
    expect(ran).toEqual([]);
    burst = false;
    await until(async () => ran.length === 1);
    await worker.stop();

    // A burst that never ends still lets the jobs through, once maxYieldMs has passed.
    await store.write((tx) => enqueueJob(tx, { kind: 'arrange', examId: 'c', idempotencyKey: 'endless' }, 1));
    const endless = new OutboxWorker(store, recording, silent, {
      ...options,
      maxYieldMs: 50,
      yieldTo: () => true,
    });
    endless.start();
    await until(async () => ran.length === 2);
    await endless.stop();
  });

  it('parks a job as dead when its failure is permanent, and queues a stuck-exam notice', async () => {
    const store = await freshStore();
    await store.write((tx) => enqueueJob(tx, { kind: 'refresh_card', examId: 'y', idempotencyKey: 'b' }, 1));
    const notices: string[] = [];
    const worker = new OutboxWorker(
      store,
      handlers({
        refresh_card: async () => {
          throw Object.assign(new Error('card rejected'), { retryable: false });
        },
        notify_dead: async (job) => {
          notices.push(String(job.payload.jobId));
          return undefined;
        },
      }),
      silent,
      options,
    );
    worker.start();
    await until(async () => notices.length === 1);
    await worker.stop();
    const dead = await store.write((tx) => listJobs(tx, 'dead'));
    expect(dead.map((j) => [j.kind, j.attempts, j.lastError])).toEqual([
      ['refresh_card', 1, 'card rejected'],
    ]);
    expect(notices).toEqual(dead.map((j) => j.id));
  });

  it('reclaims a running job whose lease expired (its worker died), and never one still leased', async () => {
    const store = await freshStore();
    await store.write((tx) => enqueueJob(tx, { kind: 'arrange', idempotencyKey: 'lease' }, 1));
    const first = await store.write((tx) => claimDueJobs(tx, 'dead-worker', 10, 1000, 100));
    expect(first).toHaveLength(1);
    expect(await store.write((tx) => claimDueJobs(tx, 'other', 10, 1000, 500))).toHaveLength(0);
    const reclaimed = await store.write((tx) => claimDueJobs(tx, 'other', 10, 1000, 1101));
    expect(reclaimed).toMatchObject([{ lockedBy: 'other', attempts: 2, state: 'running' }]);
  });
});

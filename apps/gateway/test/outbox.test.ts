import { ProviderError } from '@feishu-exam/exam-providers';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenApiError } from '../src/feishu/clients.js';
import { jobsNeedingAttention } from '../src/http/admin-exams.js';
import { JOB_COUNT_SQL, type JobCount } from '../src/metrics.js';
import { claimDueCards, queuedCardJobId } from '../src/outbox/card-queue.js';
import { classifyFailure, Deferral } from '../src/outbox/failure.js';
import {
  buryJob,
  claimDueJobs,
  completeJob,
  completeJobs,
  deferJob,
  enqueueJob,
  type JobKind,
  jobHealth,
  listJobs,
  OVERDUE_AFTER_MS,
  pruneFinishedJobs,
  releaseLeases,
  renewLease,
  skipJob,
} from '../src/outbox/jobs.js';
import { planLease } from '../src/outbox/lease.js';
import { COMPLETION_DELAY_MS, type JobHandler, OutboxWorker } from '../src/outbox/worker.js';
import { ExamEntity, JobEntity, openStore, type Store } from '../src/store/index.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import {
  examCreatedEvent,
  jobHandlers as handlers,
  startTestGateway,
  testDatabaseUrl,
  testStoreOptions,
} from './support.js';

const silent = pino({ level: 'silent' });
const stores: Store[] = [];
const workers: OutboxWorker[] = [];
async function freshStore(): Promise<Store> {
  const store = await openStore(testDatabaseUrl(), silent, testStoreOptions);
  stores.push(store);
  return store;
}
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const options = { pollMs: 20, leaseMs: 1000, concurrency: 4, baseDelayMs: 1, maxDelayMs: 5 };
const until = async (what: string, check: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
};
const start = (
  store: Store,
  hs: Record<string, JobHandler>,
  opts: ConstructorParameters<typeof OutboxWorker>[3] = options,
) => {
  const worker = new OutboxWorker(store, hs as never, silent, opts);
  workers.push(worker);
  worker.start();
  return worker;
};
const jobsOf = (store: Store) => store.dataSource.getRepository(JobEntity).find();

/** Every kind of transient failure the Open Platform and the platforms produce, in turn. */
const transientFailures = [
  () => new OpenApiError('im.v1.message.create', 'unavailable', 503, undefined, 'HTTP 503'),
  () => new OpenApiError('im.v1.message.create', 'unavailable', undefined, undefined, 'no answer'),
  () => new OpenApiError('im.v1.message.create', 'rate_limited', 429, 99991400, 'rate limit', 5),
  () => new OpenApiError('im.v1.message.create', 'token_invalid', 400, 99991663, 'token expired'),
  () => new ProviderError('the exam platform did not answer (timeout after 10000 ms)', true, 'acme'),
  () => new Error('socket hang up'),
];

describe('completions', () => {
  it('SQLite: jobs that finish while others still run are completed together, after COMPLETION_DELAY_MS (PostgreSQL: each at once)', async () => {
    const store = await freshStore();
    for (const id of ['a', 'b', 'c'])
      await store.write((tx) =>
        enqueueJob(tx, { kind: 'post_card', examId: id, idempotencyKey: `pc:${id}` }, 1),
      );
    const gates = new Map<string, () => void>();
    const handler: JobHandler = (job) =>
      new Promise((finish) => gates.set(job.examId ?? '', () => finish(undefined)));
    const waits: number[] = [];
    let endWait = () => {};
    let clock = 1_000;
    const worker = new OutboxWorker(store, handlers({ post_card: handler }) as never, silent, {
      ...options,
      pollMs: 60_000,
      now: () => clock++,
      wait: (ms: number) => {
        waits.push(ms);
        return new Promise<void>((resume) => {
          endWait = () => resume();
        });
      },
    });
    workers.push(worker);
    worker.start();
    await until('all three running', () => gates.size === 3);
    gates.get('a')?.();
    await until('a finished', async () => store.dialect === 'postgres' || waits.length === 1);
    gates.get('b')?.();
    gates.get('c')?.();
    // b and c reach their completion (a few promise turns) while a's wait lasts.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    endWait();
    await until('all three done', async () => (await jobsOf(store)).every((j) => j.state === 'done'));
    const completedAt = new Set((await jobsOf(store)).map((j) => j.updatedAt));
    if (store.dialect === 'postgres') {
      expect(waits).toEqual([]); // completed as they finished, no waiting for company
    } else {
      // One `now` per transaction: one completion for the three.
      expect(waits).toEqual([COMPLETION_DELAY_MS]);
      expect(completedAt.size).toBe(1);
    }
  });
});

describe('failure classification', () => {
  it('transient: network, 5xx, rate limit, expired token, a retryable ProviderError, anything unknown', () => {
    for (const make of transientFailures)
      expect(classifyFailure(make()).kind, make().message).toBe('transient');
    expect(classifyFailure('a string thrown').kind).toBe('transient');
    expect(classifyFailure(undefined).kind).toBe('transient');
    expect(classifyFailure(transientFailures[2]?.()).retryAfterMs).toBe(5);
  });

  it('permanent: Feishu refused the request as invalid, or the provider said not retryable', () => {
    const refused = new OpenApiError('hire.v1.ecoExam.loginInfo', 'rejected', 400, 1002001, 'invalid param');
    expect(classifyFailure(refused).kind).toBe('permanent');
    expect(classifyFailure(new ProviderError('paper does not exist', false, 'acme')).kind).toBe('permanent');
    expect(classifyFailure(Object.assign(new Error('no such exam'), { retryable: false })).kind).toBe(
      'permanent',
    );
  });
});

describe('outbox: transient failures are never final', () => {
  it('a job failing transiently 30 times (the old budget was 12) keeps going and succeeds, with no dead notice', async () => {
    const store = await freshStore();
    await store.write((tx) => enqueueJob(tx, { kind: 'post_card', examId: 'e', idempotencyKey: 'p' }, 1));
    let calls = 0;
    const worker = start(
      store,
      handlers({
        post_card: async () => {
          calls++;
          if (calls <= 30) throw transientFailures[calls % transientFailures.length]?.();
          return undefined;
        },
      }),
    );
    await until('the job is done', () => worker.stats.done === 1);
    expect(calls).toBe(31);
    expect(worker.stats).toMatchObject({ dead: 0, retried: 30, done: 1 });
    const jobs = await jobsOf(store);
    expect(jobs.map((j) => [j.kind, j.state, j.attempts])).toEqual([['post_card', 'done', 31]]);
  });

  it('the stuck-exam notice itself survives an outage: notify_dead failing 20 times still gets posted', async () => {
    const store = await freshStore();
    await store.write((tx) => enqueueJob(tx, { kind: 'arrange', examId: 'x', idempotencyKey: 'refused' }, 1));
    let noticeCalls = 0;
    start(
      store,
      handlers({
        arrange: async () => {
          throw new ProviderError('paper unknown', false, 'acme');
        },
        notify_dead: async () => {
          noticeCalls++;
          if (noticeCalls <= 20)
            throw new OpenApiError('im.v1.message.create', 'unavailable', 500, 0, 'down');
          return undefined;
        },
      }),
    );
    await until('the notice is posted', async () =>
      (await jobsOf(store)).some((j) => j.kind === 'notify_dead' && j.state === 'done'),
    );
    const states = Object.fromEntries((await jobsOf(store)).map((j) => [j.kind, [j.state, j.attempts]]));
    expect(states).toEqual({ arrange: ['dead', 1], notify_dead: ['done', 21] });
  });

  // A refusal too: a platform answering 404 while it has no result refused every round's poll, and buried, each
  // put a stuck-job card in the staff chat (up to 144 a day per exam).
  it.each([
    ['after its 3 transient failures', 'the exam platform answered HTTP 503', true, 3, 2],
    ['at once when refused as invalid', 'the exam platform answered HTTP 404', false, 1, 0],
  ] as const)(
    'a job that asked for at most 3 attempts (a poll round) is skipped %s, without a dead notice',
    async (_when, error, retryable, attempts, retried) => {
      const store = await freshStore();
      await store.write((tx) =>
        enqueueJob(tx, { kind: 'poll_result', examId: 'p', idempotencyKey: 'round-1', maxAttempts: 3 }, 1),
      );
      const worker = start(
        store,
        handlers({
          poll_result: async () => {
            throw new ProviderError(error, retryable, 'acme');
          },
        }),
      );
      // The worker's count, not the row: a committed row is readable before its commit's sync has finished
      // (better-sqlite3, wal-sync.ts), and the worker counts the job only once its write has resolved.
      await until('the round is given up', () => worker.stats.skipped === 1);
      expect(worker.stats).toMatchObject({ dead: 0, skipped: 1, retried });
      const jobs = await jobsOf(store);
      expect(jobs.map((j) => [j.kind, j.state, j.attempts, j.lastError])).toEqual([
        ['poll_result', 'skipped', attempts, error],
      ]);
    },
  );
});

describe('outbox: deferrals', () => {
  it('a job that defers itself (a paced card) runs again at the time it named, not a poll later: no attempt spent, no backoff, no error kept', async () => {
    const store = await freshStore();
    await store.write((tx) => enqueueJob(tx, { kind: 'post_card', examId: 'e', idempotencyKey: 'p' }, 1));
    const runs: Array<{ at: number; attempt: number; deferredUntil?: number }> = [];
    // A poll and a backoff of a minute each: the job can only be done in time if neither holds it.
    const slow = { ...options, pollMs: 60_000, baseDelayMs: 60_000, maxDelayMs: 60_000 };
    const worker = start(
      store,
      handlers({
        post_card: async (job) => {
          const at = Date.now();
          if (runs.length === 3) {
            runs.push({ at, attempt: job.attempts });
            return undefined;
          }
          const deferredUntil = at + 40;
          runs.push({ at, attempt: job.attempts, deferredUntil });
          throw new Deferral(deferredUntil, 'waiting for its slot');
        },
      }),
      slow,
    );
    await until('the job is done', () => worker.stats.done === 1);
    expect(worker.stats).toMatchObject({ deferred: 3, retried: 0, dead: 0, done: 1 });
    // Each run is the job's first attempt: a deferral gives back the one its claim counted.
    expect(runs.map((r) => r.attempt)).toEqual([1, 1, 1, 1]);
    // Never before the time it named.
    for (let i = 1; i < runs.length; i++)
      expect(runs[i]?.at).toBeGreaterThanOrEqual(runs[i - 1]?.deferredUntil as number);
    const jobs = await jobsOf(store);
    expect(jobs.map((j) => [j.state, j.attempts, j.lastError])).toEqual([['done', 1, null]]);
  });
  it('jobs deferred to different times each run at theirs: the wake-up moves on to the next one', async () => {
    const store = await freshStore();
    await store.write(async (tx) => {
      await enqueueJob(tx, { kind: 'post_card', examId: 'a', idempotencyKey: 'a' }, 1);
      await enqueueJob(tx, { kind: 'post_card', examId: 'b', idempotencyKey: 'b' }, 1);
      await enqueueJob(tx, { kind: 'post_card', examId: 'c', idempotencyKey: 'c' }, 1);
    });
    const deferred = new Set<string>();
    const slow = { ...options, pollMs: 60_000, baseDelayMs: 60_000, maxDelayMs: 60_000 };
    const worker = start(
      store,
      handlers({
        // Each card once, to a slot of its own (c's the latest), as a paced chat would.
        post_card: async (job) => {
          const id = job.examId as string;
          if (deferred.has(id)) return undefined;
          deferred.add(id);
          throw new Deferral(
            Date.now() + { a: 30, b: 60, c: 90 }[id as 'a' | 'b' | 'c'],
            'waiting for its slot',
          );
        },
      }),
      slow,
    );
    await until('the three jobs are done', () => worker.stats.done === 3);
    expect(worker.stats).toMatchObject({ deferred: 3, retried: 0 });
  });
});

describe('outbox: upgrading a database', () => {
  it('jobs queued with the old default of 12 attempts are retried until they succeed after the upgrade', async () => {
    const url = testDatabaseUrl();
    const before = await openStore(url, silent, testStoreOptions);
    // The database as the previous release left it: no readiness migration, jobs with max_attempts 12.
    await before.dataSource.query("DELETE FROM migrations WHERE name = 'Readiness1764000000006'");
    await before.dataSource.query('DROP TABLE readiness');
    await before.write(async (tx) => {
      await enqueueJob(tx, { kind: 'post_card', examId: 'old', idempotencyKey: 'old', maxAttempts: 12 }, 1);
      await enqueueJob(tx, { kind: 'poll_result', examId: 'old', idempotencyKey: 'poll', maxAttempts: 3 }, 1);
    });
    await before.close();

    const after = await openStore(url, silent, testStoreOptions);
    stores.push(after);
    const rows = await after.dataSource.query(
      'SELECT idempotency_key AS k, max_attempts AS m FROM outbox_jobs ORDER BY k',
    );
    expect(rows).toEqual([
      { k: 'old', m: 0 },
      { k: 'poll', m: 3 },
    ]);
  });
});

describe('outbox: leases', () => {
  it('a job slower than its lease runs once, while a second worker polls the same store all along', async () => {
    const store = await freshStore();
    await store.write((tx) => enqueueJob(tx, { kind: 'arrange', examId: 's', idempotencyKey: 'slow' }, 1));
    // Long enough that a loaded machine (a stalled event loop, a slow fsync) cannot miss a renewal by chance;
    // a worker without renewals loses this lease after 1.2 s whatever the load.
    const leaseMs = 1200;
    let runs = 0;
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const slow = handlers({
      arrange: async () => {
        runs++;
        await held;
        return undefined;
      },
    });
    const first = start(store, slow, { ...options, leaseMs });
    await until('the first worker runs the job', () => runs === 1);

    let secondClaims = 0;
    const counted: Store = {
      ...store,
      write: (work) => {
        secondClaims++;
        return store.write(work);
      },
    };
    start(counted, slow, { ...options, leaseMs });
    const since = Date.now();
    // Three leases long, and the second worker looks for due jobs (expired leases included) every 20 ms.
    await until('three leases have passed', () => Date.now() - since > 3 * leaseMs && secondClaims > 20);
    release();
    await until('the job is done', async () => (await jobsOf(store)).some((j) => j.state === 'done'));

    expect(runs).toBe(1);
    expect(first.stats.renewals).toBeGreaterThan(0);
    const [job] = await store.write((tx) => listJobs(tx, 'done'));
    expect(job).toMatchObject({ attempts: 1, lockedBy: null });
  });

  it("a worker never takes back a job it is still running, even when its clock jumps past the job's lease", async () => {
    // A clock stepped forward (NTP, a VM resumed) or an event loop stalled longer than the lease makes the
    // lease of a job in flight look expired to its own worker. Taken back, it ran a second time beside the
    // first, under the same worker id, so either run's completion counted for both (a card refresh posted two
    // cards this way, test/card-window.test.ts).
    const store = await freshStore();
    let clock = 1_000_000;
    await store.write((tx) =>
      enqueueJob(tx, { kind: 'arrange', examId: 's', idempotencyKey: 'held' }, clock),
    );
    let arranged = 0;
    let posted = 0;
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const worker = start(
      store,
      handlers({
        arrange: async () => {
          arranged++;
          await held;
          return undefined;
        },
        post_card: async () => {
          posted++;
          return undefined;
        },
      }),
      { ...options, leaseMs: 60_000, now: () => clock },
    );
    await until('the job runs', () => arranged === 1);
    // And a job another worker claimed before it died: its lease runs out with the jump too.
    await store.write(async (tx) => {
      await enqueueJob(tx, { kind: 'post_card', examId: 't', idempotencyKey: 'orphan' }, clock);
      await claimDueJobs(tx, 'dead-worker', 1, 60_000, clock);
    });

    clock += 10 * 60_000;
    try {
      // The worker claims at the new time: the dead worker's job is taken over and run; its own is not.
      worker.wake();
      await until("the dead worker's job runs", () => posted === 1);
      for (let i = 0; i < 5; i++) {
        worker.wake();
        await new Promise((r) => setTimeout(r, options.pollMs));
      }
      expect(arranged).toBe(1);
    } finally {
      release();
    }
    await until('the held job is done', async () => (await jobsOf(store)).every((j) => j.state === 'done'));
    expect(arranged).toBe(1);
    const jobs = await jobsOf(store);
    expect(jobs.find((j) => j.idempotencyKey === 'held')).toMatchObject({ state: 'done', attempts: 1 });
    expect(jobs.find((j) => j.idempotencyKey === 'orphan')).toMatchObject({ state: 'done', attempts: 2 });
  });

  it('the lease is at least twice the longest call timeout: a shorter configured lease is raised', () => {
    expect(planLease(60_000, [15_000, 10_000])).toEqual({
      leaseMs: 60_000,
      heartbeatMs: 20_000,
      longestCallMs: 15_000,
      raised: false,
    });
    expect(planLease(60_000, [15_000, 60_000])).toMatchObject({ leaseMs: 120_000, raised: true });
    expect(planLease(1500, [2000])).toMatchObject({ leaseMs: 4000, heartbeatMs: 1333, raised: true });
  });

  it('the gateway raises a lease shorter than twice the Feishu timeout, and says so', async () => {
    const gw = await startTestGateway({ OUTBOX_LEASE_MS: '1000', FEISHU_TIMEOUT_MS: '2000' });
    try {
      expect(gw.logs().find((l) => l.configuredLeaseMs !== undefined)).toMatchObject({
        level: 'warn',
        configuredLeaseMs: 1000,
        leaseMs: 4000,
        longestCallMs: 2000,
      });
    } finally {
      await gw.close();
    }
  });
});

describe('outbox: finished jobs', () => {
  /** A job of `kind` queued at 1 and taken to `state` at `at` by a worker, as the worker would. */
  async function jobEndedAs(
    store: Store,
    key: string,
    state: 'done' | 'skipped' | 'dead' | 'running' | 'pending',
    at: number,
    kind: JobKind = 'post_card',
  ) {
    await store.write(async (tx) => {
      await enqueueJob(tx, { kind, examId: key, idempotencyKey: key }, 1);
      if (state === 'pending') return;
      const [job] = (await claimDueJobs(tx, 'w1', 10, 60_000, at)).filter((j) => j.idempotencyKey === key);
      if (!job) throw new Error(`${key} was not claimed`);
      if (state === 'done') await completeJob(tx, job, 'w1', at);
      if (state === 'skipped') await skipJob(tx, job, 'w1', 'gave up', at);
      if (state === 'dead') await buryJob(tx, job, 'w1', 'refused', at);
    });
  }

  it('deletes jobs done or skipped before the cut-off, a batch at a time; keeps the rest, and the field registrations', async () => {
    const store = await freshStore();
    await jobEndedAs(store, 'old-done-1', 'done', 100);
    await jobEndedAs(store, 'old-done-2', 'done', 100);
    await jobEndedAs(store, 'old-skipped', 'skipped', 100);
    await jobEndedAs(store, 'old-dead', 'dead', 100);
    await jobEndedAs(store, 'old-running', 'running', 100);
    await jobEndedAs(store, 'old-fields', 'done', 100, 'register_custom_fields');
    await jobEndedAs(store, 'recent-done', 'done', 2_000);
    await jobEndedAs(store, 'pending', 'pending', 0);
    const keys = async () =>
      (await jobsOf(store)).map((j) => j.idempotencyKey).sort((a, b) => a.localeCompare(b));
    expect(await store.write((tx) => pruneFinishedJobs(tx, 1_000, 2))).toBe(2);
    expect(await store.write((tx) => pruneFinishedJobs(tx, 1_000, 2))).toBe(1);
    expect(await store.write((tx) => pruneFinishedJobs(tx, 1_000, 2))).toBe(0);
    expect(await keys()).toEqual(['old-dead', 'old-fields', 'old-running', 'pending', 'recent-done']);
  });

  // SQLite plans without statistics: the batch must find its jobs by idx_outbox_due (state, run_at), not read
  // every job kept. PostgreSQL plans from statistics.
  it.skipIf(process.env.TEST_DATABASE === 'postgres')(
    'finds the finished jobs to delete by idx_outbox_due, not by reading every job',
    async () => {
      const store = await freshStore();
      const statements: string[] = [];
      await store.write((tx) =>
        pruneFinishedJobs(
          {
            ...tx,
            run: (sql, params) => {
              statements.push(sql);
              return tx.run(sql, params);
            },
          },
          1_000,
          10,
        ),
      );
      expect(statements).toHaveLength(1);
      const plan: Array<{ detail: string }> = await store.dataSource.query(
        `EXPLAIN QUERY PLAN ${statements[0]}`,
        [1_000, 1_000, 'register_custom_fields', 10],
      );
      const details = plan.map((row) => row.detail);
      expect(details.some((d) => d.includes('USING INDEX idx_outbox_due (state=? AND run_at<?)'))).toBe(true);
      expect(details.filter((d) => /^SCAN outbox_jobs\b/.test(d))).toEqual([]);
    },
  );
});

/** An exam's first card, queued on its row (outbox/card-queue.ts). */
const arrive = (store: Store, examId: string, at: number) =>
  store.write((tx) => examLifecycle.receive(tx, examCreatedEvent(examId), at));
const examOf = (store: Store, examId: string) =>
  store.dataSource.getRepository(ExamEntity).findOneByOrFail({ examId });
const cardId = (examId: string) => queuedCardJobId('t1', examId);

describe("an exam's first card, queued on its row", () => {
  it('is posted by the worker from the exam row, which then leaves the queue; no job row is written', async () => {
    const store = await freshStore();
    await arrive(store, 'q-1', Date.now());
    const posted: string[] = [];
    const worker = start(
      store,
      handlers({
        post_card: async (job) => {
          posted.push(`${job.id} ${job.examId} ${job.exam?.examId}`);
          return (tx, now) => examLifecycle.cardPosted(tx, { tenantKey: 't1', examId: 'q-1' }, 'om_1', now);
        },
      }),
    );
    await until('card posted', async () => (await examOf(store, 'q-1')).cardMessageId === 'om_1');
    await until('done counted', () => worker.stats.done === 1);
    expect(posted).toEqual([`${cardId('q-1')} q-1 q-1`]);
    expect(await examOf(store, 'q-1')).toMatchObject({ cardDueAt: null, cardLockedBy: null });
    expect(await jobsOf(store)).toEqual([]);
  });

  it('a transient failure of the first attempt hands the card to a post_card job under the same id, which retries it', async () => {
    const store = await freshStore();
    await arrive(store, 'q-2', Date.now());
    const attempts: string[] = [];
    start(
      store,
      handlers({
        post_card: async (job) => {
          attempts.push(`${job.id} attempt ${job.attempts}`);
          if (job.attempts === 1)
            throw new OpenApiError('im.v1.message.create', 'unavailable', 503, undefined, 'HTTP 503');
          return (tx, now) => examLifecycle.cardPosted(tx, { tenantKey: 't1', examId: 'q-2' }, 'om_2', now);
        },
      }),
    );
    await until('card posted', async () => (await examOf(store, 'q-2')).cardMessageId === 'om_2');
    expect(attempts).toEqual([`${cardId('q-2')} attempt 1`, `${cardId('q-2')} attempt 2`]);
    expect(await examOf(store, 'q-2')).toMatchObject({ cardDueAt: null, cardLockedBy: null });
    await until('job done', async () => (await jobsOf(store))[0]?.state === 'done');
    const [job] = await jobsOf(store);
    expect(job).toMatchObject({
      id: cardId('q-2'),
      kind: 'post_card',
      examId: 'q-2',
      tenantKey: 't1',
      idempotencyKey: 'post_card:t1:q-2',
      attempts: 2,
      maxAttempts: 0,
    });
  });

  it("a deferral (the staff chat's pace) makes a pending job due at the slot, the attempt given back; a refusal a dead job with its notice", async () => {
    const store = await freshStore();
    const clock = 1_000_000;
    await arrive(store, 'q-3', clock - 10);
    await arrive(store, 'q-4', clock - 5);
    const [deferred, refused] = await store.write((tx) => claimDueJobs(tx, 'w-1', 2, 1000, clock));
    expect([deferred?.id, refused?.id]).toEqual([cardId('q-3'), cardId('q-4')]);
    await store.write((tx) => deferJob(tx, deferred as never, 'w-1', clock + 250, clock));
    await store.write((tx) =>
      buryJob(tx, refused as never, 'w-1', 'HTTP 400 code 230002 (bot not in chat)', clock),
    );
    const jobs = Object.fromEntries((await jobsOf(store)).map((j) => [j.examId, j]));
    expect(jobs['q-3']).toMatchObject({
      id: cardId('q-3'),
      state: 'pending',
      runAt: clock + 250,
      attempts: 0,
      lastError: null,
    });
    expect(jobs['q-4']).toMatchObject({
      id: cardId('q-4'),
      state: 'dead',
      attempts: 1,
      lastError: 'HTTP 400 code 230002 (bot not in chat)',
      createdAt: clock - 5,
    });
    for (const examId of ['q-3', 'q-4'])
      expect(await examOf(store, examId)).toMatchObject({ cardDueAt: null, cardLockedBy: null });
    // Neither is queued on its exam any more: a claim finds the deferred job at its slot, and nothing else.
    expect(await store.write((tx) => claimDueJobs(tx, 'w-2', 10, 1000, clock + 100))).toEqual([]);
    const [slot] = await store.write((tx) => claimDueJobs(tx, 'w-2', 10, 1000, clock + 250));
    expect(slot).toMatchObject({ id: cardId('q-3'), kind: 'post_card', attempts: 1 });
    expect(slot).not.toHaveProperty('onExamRow');
  });

  it('the worker defers a paced first attempt into a job and sends it at its slot, under the same id', async () => {
    const store = await freshStore();
    await arrive(store, 'q-5', Date.now());
    const seen: string[] = [];
    const worker = start(
      store,
      handlers({
        post_card: async (job) => {
          seen.push(`${job.id} ${'onExamRow' in job ? 'exam row' : 'job row'}`);
          if (seen.length === 1) throw new Deferral(Date.now() + 30, 'paced');
          return (tx, now) => examLifecycle.cardPosted(tx, { tenantKey: 't1', examId: 'q-5' }, 'om_5', now);
        },
      }),
    );
    await until('card posted', async () => (await examOf(store, 'q-5')).cardMessageId === 'om_5');
    expect(seen).toEqual([`${cardId('q-5')} exam row`, `${cardId('q-5')} job row`]);
    expect(worker.stats.deferred).toBe(1);
  });

  it('is leased: renewed while it runs, taken by another worker once the lease runs out, and then no longer the first one to complete or release', async () => {
    const store = await freshStore();
    await arrive(store, 'q-6', 100);
    const [card] = await store.write((tx) => claimDueJobs(tx, 'w-1', 10, 1000, 200));
    expect(card).toMatchObject({ id: cardId('q-6'), lockedBy: 'w-1', lockedUntil: 1200, attempts: 1 });
    expect(await examOf(store, 'q-6')).toMatchObject({ cardDueAt: 1200, cardLockedBy: 'w-1' });
    // While the lease holds, nobody else takes it.
    expect(await store.write((tx) => claimDueJobs(tx, 'w-2', 10, 1000, 1100))).toEqual([]);
    expect(await store.write((tx) => renewLease(tx, card as never, 'w-1', 1000, 1100))).toBe(true);
    expect(await store.write((tx) => claimDueJobs(tx, 'w-2', 10, 1000, 1500))).toEqual([]);
    // The lease ran out (w-1 stalled): w-2 takes the card; w-1 can neither renew, release nor complete it.
    const [taken] = await store.write((tx) => claimDueJobs(tx, 'w-2', 10, 1000, 2200));
    expect(taken).toMatchObject({ id: cardId('q-6'), lockedBy: 'w-2' });
    expect(await store.write((tx) => renewLease(tx, card as never, 'w-1', 1000, 2300))).toBe(false);
    expect(await store.write((tx) => releaseLeases(tx, [card as never], 'w-1', 2300))).toBe(0);
    expect(await store.write((tx) => completeJobs(tx, [card as never], 'w-1', 2300))).toEqual(new Set());
    expect(await examOf(store, 'q-6')).toMatchObject({ cardDueAt: 3200, cardLockedBy: 'w-2' });
    // w-2 gives it back at a shutdown: due at once for the next worker.
    expect(await store.write((tx) => releaseLeases(tx, [taken as never], 'w-2', 2400))).toBe(1);
    expect(await examOf(store, 'q-6')).toMatchObject({ cardDueAt: 2399 });
    const [again] = await store.write((tx) => claimDueJobs(tx, 'w-3', 10, 1000, 2400));
    expect(again).toMatchObject({ id: cardId('q-6'), lockedBy: 'w-3' });
    expect(await store.write((tx) => completeJobs(tx, [again as never], 'w-3', 2500))).toEqual(
      new Set([cardId('q-6')]),
    );
    expect(await examOf(store, 'q-6')).toMatchObject({ cardDueAt: null, cardLockedBy: null });
  });

  it("a worker's own cards in flight are left out of its claims, even when their leases look expired", async () => {
    const store = await freshStore();
    await arrive(store, 'q-7', 100);
    await arrive(store, 'q-8', 101);
    const [first] = await store.write((tx) => claimDueJobs(tx, 'w-1', 1, 1000, 200));
    expect(first?.id).toBe(cardId('q-7'));
    const running = new Set([cardId('q-7')]);
    const later = await store.write((tx) => claimDueJobs(tx, 'w-1', 10, 1000, 5000, running));
    expect(later.map((j) => j.id)).toEqual([cardId('q-8')]);
  });

  it('cards and jobs are claimed the older first: neither waits for the other to run dry', async () => {
    const store = await freshStore();
    await arrive(store, 'q-9', 100);
    await store.write((tx) =>
      enqueueJob(tx, { kind: 'sync_papers', idempotencyKey: 'older-job', runAt: 50 }, 50),
    );
    await store.write((tx) =>
      enqueueJob(tx, { kind: 'sync_papers', idempotencyKey: 'newer-job', runAt: 150 }, 150),
    );
    await arrive(store, 'q-10', 200);
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const [next] = await store.write((tx) => claimDueJobs(tx, 'w-1', 1, 10_000, 1000));
      order.push(next?.kind === 'post_card' ? String(next.examId) : String(next?.idempotencyKey));
    }
    expect(order).toEqual(['older-job', 'q-9', 'newer-job', 'q-10']);
  });

  it('counts in /readyz once overdue, and in feishu_exam_jobs as post_card, pending or running', async () => {
    const store = await freshStore();
    const now = 10_000_000;
    await arrive(store, 'q-11', now - OVERDUE_AFTER_MS - 1);
    await arrive(store, 'q-12', now - 10);
    await arrive(store, 'q-13', now - 5);
    expect(await store.write((tx) => jobHealth(tx, now))).toEqual({ dead: 0, retrying: 0, overdue: 1 });
    // The console lists it with the jobs needing attention, as the post_card job it stands for.
    expect(await store.write((tx) => jobsNeedingAttention(tx, now))).toEqual([
      {
        id: cardId('q-11'),
        kind: 'post_card',
        examId: 'q-11',
        state: 'pending',
        attempts: 0,
        runAt: now - OVERDUE_AFTER_MS - 1,
        lastError: null,
        createdAt: now - OVERDUE_AFTER_MS - 1,
        updatedAt: now - OVERDUE_AFTER_MS - 1,
      },
    ]);
    await store.write((tx) => claimDueCards(tx, 'w-1', 1, 1000, now, new Set()));
    const counts = async () =>
      Object.fromEntries(
        (await store.dataSource.query<JobCount[]>(JOB_COUNT_SQL)).map((c) => [
          `${c.kind} ${c.state}`,
          Number(c.n),
        ]),
      );
    expect(await counts()).toEqual({ 'post_card pending': 2, 'post_card running': 1 });
    // With a job row of the same kind and state, the two are added up.
    await store.write((tx) =>
      enqueueJob(tx, { kind: 'post_card', examId: 'old', idempotencyKey: 'post_card:t1:old' }, now),
    );
    expect(await counts()).toEqual({ 'post_card pending': 3, 'post_card running': 1 });
    // The overdue card was taken: no longer overdue.
    expect(await store.write((tx) => jobHealth(tx, now))).toEqual({ dead: 0, retrying: 0, overdue: 0 });
    expect(await store.write((tx) => jobsNeedingAttention(tx, now))).toEqual([]);
  });
});

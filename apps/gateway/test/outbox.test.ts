import { ProviderError } from '@feishu-exam/exam-providers';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenApiError } from '../src/feishu/clients.js';
import { classifyFailure, Deferral } from '../src/outbox/failure.js';
import {
  buryJob,
  claimDueJobs,
  completeJob,
  enqueueJob,
  type JobKind,
  listJobs,
  pruneFinishedJobs,
  skipJob,
} from '../src/outbox/jobs.js';
import { planLease } from '../src/outbox/lease.js';
import { COMPLETION_DELAY_MS, type JobHandler, OutboxWorker } from '../src/outbox/worker.js';
import { JobEntity, openStore, type Store } from '../src/store/index.js';
import { jobHandlers as handlers, startTestGateway, testDatabaseUrl, testStoreOptions } from './support.js';

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

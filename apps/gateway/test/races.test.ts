// Durability and replicas: races the other suites do not force (two processes migrating one file, a job handed
// back to pending while its first run goes on, a paused run resuming).
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { claimDueJobs, enqueueJob, rescheduleJob } from '../src/outbox/jobs.js';
import { type JobHandler, OutboxWorker } from '../src/outbox/worker.js';
import { JobEntity, openStore, type Store } from '../src/store/index.js';
import {
  jobHandlers as handlers,
  holdingFirstMigration,
  tempDatabaseUrl,
  testDatabaseUrl,
  testStoreOptions,
} from './support.js';

const silent = pino({ level: 'silent' });
const stores: Store[] = [];
const workers: OutboxWorker[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function until(what: string, condition: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function freshStore(): Promise<Store> {
  const store = await openStore(testDatabaseUrl(), silent, testStoreOptions);
  stores.push(store);
  return store;
}
const options = { pollMs: 20, leaseMs: 1000, concurrency: 4, baseDelayMs: 1, maxDelayMs: 5 };
const start = (
  store: Store,
  hs: Record<string, JobHandler>,
  opts: ConstructorParameters<typeof OutboxWorker>[3],
) => {
  const worker = new OutboxWorker(store, hs as never, silent, opts);
  workers.push(worker);
  worker.start();
  return worker;
};
const jobsOf = (store: Store) => store.dataSource.getRepository(JobEntity).find();

describe('SQLite: two processes migrating one file at once', () => {
  it('a gateway starting while `feishu-exam db migrate` runs on the same new file: both open, each migration runs once', async () => {
    const url = tempDatabaseUrl();
    // node-sqlite3: each store's connection waits for the other's lock on a thread of its own, as two processes do.
    const options = { sqliteDriver: 'sqlite3' as const };
    const { runs, release } = holdingFirstMigration();
    const first = openStore(url, silent, options);
    await until('the first to be migrating', () => runs() === 1);
    const second = openStore(url, silent, options);
    // The second either runs the first migration too, or waits for the first to finish it.
    await Promise.race([
      until('the second to run it too', () => runs() > 1),
      new Promise((r) => setTimeout(r, 1000)),
    ]);
    release();
    const opened = await Promise.allSettled([first, second]);
    for (const o of opened) if (o.status === 'fulfilled') stores.push(o.value);
    expect(opened.map((o) => (o.status === 'rejected' ? String(o.reason) : 'started'))).toEqual([
      'started',
      'started',
    ]);
    // Each migration applied once (a second attempt of one, rolled back, leaves nothing).
    const [a] = stores as [Store];
    const applied = await a.reads.all<{ name: string }>('SELECT name FROM migrations');
    expect(applied.length).toBeGreaterThan(1);
    expect(new Set(applied.map((m) => m.name)).size).toBe(applied.length);
  });
});

describe('outbox: a job the worker is still running, handed back to pending by another replica', () => {
  it('is not claimed again by the worker still running it: its stale run must not complete the new claim', async () => {
    // Replica A runs a job whose call hangs; its lease runs out (its renewals stalled: a paused process, a
    // database connection that hung) and replica B takes the job, fails transiently and puts it back to pending.
    // A, still running its first run, must not claim it again: under one worker id the first run's completion
    // would count for the second claim (the job marked done, with the first run's result, while the second runs).
    const store = await freshStore();
    const leaseMs = 60_000;
    let clock = 1_000_000;
    await store.write((tx) =>
      enqueueJob(tx, { kind: 'arrange', examId: 's', idempotencyKey: 'held' }, clock),
    );
    let runs = 0;
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const worker = start(
      store,
      handlers({
        arrange: async () => {
          runs++;
          await held;
          return undefined;
        },
      }),
      { ...options, leaseMs, now: () => clock },
    );
    try {
      await until('replica A runs the job', () => runs === 1);
      // Replica B, its clock past A's lease, takes the job and fails it transiently: pending again, due at once.
      const atB = clock + 2 * leaseMs;
      await store.write(async (tx) => {
        const [job] = await claimDueJobs(tx, 'replica-b', 1, leaseMs, atB);
        if (!job) throw new Error('replica B found nothing to claim');
        await rescheduleJob(tx, job, 'replica-b', atB, 'the exam platform did not answer', atB);
      });
      clock = atB + 1;
      for (let i = 0; i < 5; i++) {
        worker.wake();
        await new Promise((r) => setTimeout(r, options.pollMs));
      }
      expect(runs).toBe(1);
    } finally {
      release();
    }
    await until('the job is done', async () => (await jobsOf(store)).every((j) => j.state === 'done'));
  });
});

describe('outbox: a replica paused past its lease', () => {
  it("resumes after another replica ran the job and recorded its result: the paused run's result is not written over it", async () => {
    const url = testDatabaseUrl();
    const a = await openStore(url, silent, testStoreOptions);
    stores.push(a);
    const b = await openStore(url, silent, testStoreOptions);
    stores.push(b);
    const leaseMs = 60_000;
    let clockA = 1_000_000;
    await a.write(async (tx) => {
      await tx.run(
        "INSERT INTO processed_events (event_id, event_type, exam_id, outcome, reason, received_at) VALUES ('marker', 'x', NULL, 'accepted', NULL, 0)",
      );
      await enqueueJob(tx, { kind: 'arrange', examId: 's', idempotencyKey: 'paused' }, clockA);
    });
    const mark = (who: string) => async (tx: { run(sql: string, p?: unknown[]): Promise<number> }) => {
      await tx.run("UPDATE processed_events SET reason = ? WHERE event_id = 'marker'", [who]);
    };
    let pausedRunning = false;
    let resume: () => void = () => undefined;
    const paused = new Promise<void>((r) => (resume = r));
    const workerA = start(
      a,
      handlers({
        arrange: async () => {
          pausedRunning = true;
          await paused;
          return mark('A');
        },
      }),
      { ...options, leaseMs, now: () => clockA },
    );
    await until('replica A runs the job', () => pausedRunning);
    const workerB = start(b, handlers({ arrange: async () => mark('B') }), {
      ...options,
      leaseMs,
      now: () => clockA + 2 * leaseMs,
    });
    await until('replica B ran it', () => workerB.stats.done === 1);
    clockA += 2 * leaseMs;
    resume();
    // Its completion is refused (the job is no longer its): the run ends all the same.
    await until('replica A finished its run', () => workerA.stats.done === 1);
    const [marker] = await a.reads.all<{ reason: string }>(
      "SELECT reason FROM processed_events WHERE event_id = 'marker'",
    );
    expect(marker?.reason).toBe('B');
    expect(await jobsOf(a)).toMatchObject([{ state: 'done', attempts: 2, lockedBy: null }]);
  });
});

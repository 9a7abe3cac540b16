// outbox: jobs written in the same transaction as the state change that caused them, run by this worker
// under a lease it renews while they run, retried with backoff and jitter for as long as their failures are
// transient, parked as dead (visibly) when one is permanent.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { JobRow, Store, Tx } from '../store/index.js';
import { classifyFailure } from './failure.js';
import {
  backoffMs,
  buryJob,
  claimDueJobs,
  completeJob,
  enqueueJob,
  type JobKind,
  NO_ATTEMPT_LIMIT,
  renewLease,
  rescheduleJob,
  skipJob,
} from './jobs.js';
import { heartbeatFor } from './lease.js';

/** What a handler returns: writes to commit together with marking the job done. */
export type JobResult = ((tx: Tx, now: number) => Promise<void>) | undefined;
export type JobHandler = (job: JobRow, log: Logger) => Promise<JobResult>;

/** How often a yielding worker looks again whether it may claim jobs. */
const YIELD_CHECK_MS = 20;

export interface OutboxOptions {
  readonly pollMs: number;
  /** How long a claimed job stays this worker's; renewed every third of it while the job runs (lease.ts). */
  readonly leaseMs: number;
  readonly concurrency: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /**
   * While `yieldTo` says more urgent work is running (exam events waiting for their acknowledgement), the
   * worker waits before claiming jobs, but never longer than this: a burst is acknowledged first, and its
   * cards still go out, at least `concurrency` jobs per `maxYieldMs`. 0: never wait.
   */
  readonly maxYieldMs?: number;
  readonly yieldTo?: () => boolean;
  readonly now?: () => number;
  readonly random?: () => number;
}

export class OutboxWorker {
  readonly id = `w-${randomUUID().slice(0, 8)}`;
  readonly stats = { done: 0, retried: 0, dead: 0, skipped: 0, renewals: 0 };
  readonly #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #polling: Promise<void> | undefined;
  #again = false;
  #yieldingSince: number | undefined;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(
    private readonly store: Store,
    // Partial: a kind without a handler is buried at once, visibly (a replica older than the job).
    private readonly handlers: Partial<Record<JobKind, JobHandler>>,
    private readonly log: Logger,
    private readonly options: OutboxOptions,
  ) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  start(): void {
    this.#running = true;
    this.wake();
  }

  /** Looks for due jobs now instead of at the next poll (called after an enqueue commits). */
  wake(): void {
    if (!this.#running) return;
    if (this.#polling) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    if (this.#shouldYield()) {
      this.#timer = setTimeout(() => this.wake(), YIELD_CHECK_MS);
      this.#timer.unref();
      return;
    }
    this.#polling = this.#poll().finally(() => {
      this.#polling = undefined;
      if (!this.#running) return;
      if (this.#again) {
        this.#again = false;
        this.wake();
      } else {
        this.#timer = setTimeout(() => this.wake(), this.options.pollMs);
        this.#timer.unref();
      }
    });
  }

  #shouldYield(): boolean {
    const maxYieldMs = this.options.maxYieldMs ?? 0;
    if (maxYieldMs <= 0 || !this.options.yieldTo?.()) {
      this.#yieldingSince = undefined;
      return false;
    }
    const t = performance.now();
    this.#yieldingSince ??= t;
    if (t - this.#yieldingSince < maxYieldMs) return true;
    this.#yieldingSince = undefined;
    return false;
  }

  /** Stops claiming jobs and waits for the ones in flight to finish. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#polling;
    await Promise.allSettled([...this.#inFlight]);
  }

  async #poll(): Promise<void> {
    const free = this.options.concurrency - this.#inFlight.size;
    if (free <= 0) return;
    let jobs: JobRow[];
    try {
      jobs = await this.store.write((tx) =>
        claimDueJobs(tx, this.id, free, this.options.leaseMs, this.#now()),
      );
    } catch (err) {
      this.log.error({ err }, 'outbox: could not claim jobs');
      return;
    }
    for (const job of jobs) {
      const run = this.#run(job).finally(() => {
        this.#inFlight.delete(run);
        this.wake();
      });
      this.#inFlight.add(run);
    }
    if (jobs.length === free) this.#again = true;
  }

  async #run(job: JobRow): Promise<void> {
    const log = this.log.child({ jobId: job.id, kind: job.kind, examId: job.examId, attempt: job.attempts });
    const handler = this.handlers[job.kind as JobKind];
    const heartbeat = this.#keepLease(job, log);
    try {
      if (!handler)
        throw Object.assign(new Error(`no handler for job kind ${job.kind}`), { retryable: false });
      const result = await handler(job, log);
      await heartbeat.stop();
      await this.store.write(async (tx) => {
        const now = this.#now();
        if (await completeJob(tx, job, this.id, now)) await result?.(tx, now);
      });
      this.stats.done++;
      log.debug('job done');
    } catch (err) {
      await heartbeat.stop();
      await this.#fail(job, err, log).catch((e: unknown) =>
        log.error({ err: e }, 'outbox: could not record a job failure'),
      );
    }
  }

  /**
   * Renews the job's lease every third of it while the handler runs, so that a slow call (a platform taking
   * its time) never lets the lease run out and another worker run the job a second time.
   */
  #keepLease(job: JobRow, log: Logger): { stop(): Promise<void> } {
    const { leaseMs } = this.options;
    let renewing: Promise<unknown> = Promise.resolve();
    let lost = false;
    const timer = setInterval(() => {
      renewing = renewing
        .then(() => this.store.write((tx) => renewLease(tx, job.id, this.id, leaseMs, this.#now())))
        .then(
          (renewed) => {
            if (renewed) this.stats.renewals++;
            else if (!lost) {
              lost = true;
              log.warn('outbox: lost the lease of a running job (another worker may run it)');
            }
          },
          (err: unknown) => log.warn({ err }, 'outbox: could not renew the lease of a running job'),
        );
    }, heartbeatFor(leaseMs));
    timer.unref();
    return {
      async stop() {
        clearInterval(timer);
        await renewing;
      },
    };
  }

  async #fail(job: JobRow, err: unknown, log: Logger): Promise<void> {
    const failure = classifyFailure(err);
    const { message } = failure;
    const now = this.#now();
    if (failure.kind === 'transient') {
      if (job.maxAttempts !== NO_ATTEMPT_LIMIT && job.attempts >= job.maxAttempts) {
        // Only jobs that asked for a limit have one (a poll round: the next round asks again).
        await this.store.write((tx) => skipJob(tx, job, this.id, message, now));
        this.stats.skipped++;
        log.warn({ error: message, attempts: job.attempts }, 'job skipped after its last allowed attempt');
        return;
      }
      const delay = Math.max(
        backoffMs(job.attempts, this.options.baseDelayMs, this.options.maxDelayMs, this.#random),
        failure.retryAfterMs ?? 0,
      );
      await this.store.write((tx) => rescheduleJob(tx, job, this.id, now + delay, message, now));
      this.stats.retried++;
      log.warn({ error: message, retryInMs: delay }, 'job failed; will retry');
      return;
    }
    await this.store.write(async (tx) => {
      if ((await buryJob(tx, job, this.id, message, now)) === 0) return;
      if (job.kind !== 'notify_dead') {
        await enqueueJob(
          tx,
          {
            kind: 'notify_dead',
            examId: job.examId ?? undefined,
            payload: { jobId: job.id },
            idempotencyKey: `notify_dead:${job.id}:${now}`,
          },
          now,
        );
      }
    });
    this.stats.dead++;
    log.error(
      { error: message, attempts: job.attempts },
      'job is dead: the request was refused as invalid; it will not be retried until an operator says so',
    );
  }
}

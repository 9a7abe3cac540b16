// outbox: jobs written in the same transaction as the state change that caused them, run by this worker,
// retried with backoff and jitter, parked as dead (visibly) after the last attempt.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { JobRow, Store, Tx } from '../store/index.js';
import {
  backoffMs,
  buryJob,
  claimDueJobs,
  completeJob,
  enqueueJob,
  type JobKind,
  rescheduleJob,
} from './jobs.js';

/** What a handler returns: writes to commit together with marking the job done. */
export type JobResult = ((tx: Tx, now: number) => Promise<void>) | undefined;
export type JobHandler = (job: JobRow, log: Logger) => Promise<JobResult>;

/** A failure worth retrying says so; anything else is retried too, unless it says `retryable: false`. */
interface MaybeRetryable {
  retryable?: boolean;
  retryAfterMs?: number;
}

/** How often a yielding worker looks again whether it may claim jobs. */
const YIELD_CHECK_MS = 20;

export interface OutboxOptions {
  readonly pollMs: number;
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
  readonly stats = { done: 0, retried: 0, dead: 0 };
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
    try {
      if (!handler)
        throw Object.assign(new Error(`no handler for job kind ${job.kind}`), { retryable: false });
      const result = await handler(job, log);
      await this.store.write(async (tx) => {
        const now = this.#now();
        if (await completeJob(tx, job, this.id, now)) await result?.(tx, now);
      });
      this.stats.done++;
      log.debug('job done');
    } catch (err) {
      await this.#fail(job, err, log).catch((e: unknown) =>
        log.error({ err: e }, 'outbox: could not record a job failure'),
      );
    }
  }

  async #fail(job: JobRow, err: unknown, log: Logger): Promise<void> {
    const e = err as Error & MaybeRetryable;
    const message = e?.message ?? String(err);
    const retryable = e?.retryable !== false;
    const now = this.#now();
    if (retryable && job.attempts < job.maxAttempts) {
      const delay = Math.max(
        backoffMs(job.attempts, this.options.baseDelayMs, this.options.maxDelayMs, this.#random),
        e?.retryAfterMs ?? 0,
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
      { error: message, attempts: job.attempts, retryable },
      'job is dead: it will not be retried until an operator says so',
    );
  }
}

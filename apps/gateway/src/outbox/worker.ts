// outbox: jobs written in the same transaction as the state change that caused them, run by this worker
// under a lease it renews while they run, retried with backoff and jitter for as long as their failures are
// transient, parked as dead (visibly) when one is permanent.
import { randomUUID } from 'node:crypto';
import { type Logger, lazyChild, maskCandidateIn, scrubText } from '../log.js';
import type { JobRow, Store, Tx, WriteOptions } from '../store/index.js';
import { classifyFailure } from './failure.js';
import {
  backoffMs,
  buryJob,
  type ClaimedJob,
  claimDueJobs,
  completeJob,
  completeJobs,
  deferJob,
  enqueueJob,
  type JobKind,
  NO_ATTEMPT_LIMIT,
  releaseLeases,
  renewLease,
  rescheduleJob,
  skipJob,
} from './jobs.js';
import { heartbeatFor } from './lease.js';

/** What a handler returns: writes to commit together with marking the job done. */
export type JobResult = ((tx: Tx, now: number) => Promise<void>) | undefined;
export type JobHandler = (job: ClaimedJob, log: Logger) => Promise<JobResult>;

export interface OutboxOptions {
  readonly pollMs: number;
  /** How long a claimed job stays this worker's; renewed every third of it while the job runs (lease.ts). */
  readonly leaseMs: number;
  readonly concurrency: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /**
   * While `busy` says more urgent work is waiting (exam events waiting for the commit that acknowledges
   * them), the worker runs at most this many jobs at once instead of `concurrency`, and still claims them
   * at once: ingest gets most of the CPU during a burst, the jobs keep moving, and nothing waits for a
   * pause to end (a pause under a steady stream never ends, and the queue grows behind it).
   */
  readonly busyConcurrency?: number;
  readonly busy?: () => boolean;
  /** More urgent work in this process, which the worker gives way to while it is backlogged (exam acknowledgements). */
  readonly priority?: PriorityWork;
  readonly now?: () => number;
  readonly random?: () => number;
  /** How the completion delay is waited for (tests replace it). */
  readonly wait?: (ms: number) => Promise<void>;
}

/** Work that comes before the outbox's jobs when both want the main thread (workflow/ingest.ts's ExamIngest). */
export interface PriorityWork {
  /** True while that work waits for the main thread: its items arrive faster than they are done. */
  readonly backlogged: boolean;
  /** How many of its items are done so far (only grows). */
  readonly acknowledged: number;
}

/**
 * While the priority work is backlogged, the worker runs one job at a time and starts one for every this many of
 * its items done: the jobs keep moving in proportion, and the acknowledgements Feishu waits for go first. Here 29
 * cards went out during a burst of 4,000 pushes at 32 connections, some 50 a second (Feishu takes 5 a second from
 * the bots in one group), against 375 with the worker running two jobs at once. A job's turn costs the main thread
 * about as much as ten acknowledgements (its claim, its call, its completion), so this leaves the worker about a
 * tenth of the main thread. With one job per 32 exams the gateway acknowledged 0.85× the pushes a second of the
 * same gateway without its worker; with one per 128, 0.93–1.01× (BENCHMARKS.md, session 26). A proportion, not a
 * pause: once the backlog clears (BACKLOG_QUIET_MS after its last batch) the worker runs at full concurrency
 * again, and a steady stream the gateway keeps up with never backlogs it (a batch holds one event: ingest.ts).
 */
export const PRIORITY_ITEMS_PER_JOB = 128;
/** While the worker gives way, it looks again this often (the backlog may have ended without a commit to wake it). */
const GIVE_WAY_RECHECK_MS = 10;

/**
 * The worker's own writes (claims, completions with their handlers' writes, retries, leases) resolve at their
 * commit, not at the disk: a power loss can only undo them whole, and then the job runs again, as after a
 * crash, which every job allows (Feishu's calls are idempotent by uuid or by the exam's state, and a
 * handler's writes commit with its completion or not at all). Anything acknowledged to a caller still waits
 * for the disk, and its sync covers every lazy commit before it. Saves a sync (~160 µs of CPU, ~1 ms of
 * waiting) on most of an exam's transactions (BENCHMARKS.md, session 6).
 */
const WORKER_WRITE: WriteOptions = { durability: 'lazy' };

/** Completions wait up to COMPLETION_DELAY_MS for company while more than COMPLETION_SIBLINGS jobs run. */
export const COMPLETION_DELAY_MS = 2;
export const COMPLETION_SIBLINGS = 2;

export class OutboxWorker {
  readonly id = `w-${randomUUID().slice(0, 8)}`;
  readonly stats = { done: 0, retried: 0, dead: 0, skipped: 0, renewals: 0, deferred: 0 };
  readonly #inFlight = new Set<Promise<void>>();
  /** The jobs in #inFlight, by id: never claimed again while this worker runs them (claimDueJobs). */
  readonly #runningJobs = new Map<string, ClaimedJob>();
  #timer: NodeJS.Timeout | undefined;
  /** The priority work's count when this worker last started a job (PRIORITY_ITEMS_PER_JOB). */
  #startedAtAcknowledged = Number.NEGATIVE_INFINITY;
  #recheckTimer: NodeJS.Timeout | undefined;
  /** When deferred jobs are due (ascending), and the timer that wakes the worker at the first of them. */
  #deferredDue: number[] = [];
  #deferredTimer: NodeJS.Timeout | undefined;
  #running = false;
  #polling: Promise<void> | undefined;
  #again = false;
  #completing = false;
  readonly #finished: Array<{
    readonly job: JobRow;
    readonly result: JobResult;
    readonly resolve: () => void;
    readonly reject: (error: unknown) => void;
  }> = [];
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #wait: (ms: number) => Promise<void>;

  constructor(
    private readonly store: Store,
    // Partial: a kind without a handler is buried at once, visibly (a replica older than the job).
    private readonly handlers: Partial<Record<JobKind, JobHandler>>,
    private readonly log: Logger,
    private readonly options: OutboxOptions,
  ) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#wait = options.wait ?? ((ms) => new Promise((resume) => setTimeout(resume, ms)));
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

  /**
   * Stops claiming jobs and waits for the ones in flight to finish: for `releaseAfterMs` at most, if given. Those
   * still running then are given back (their leases end now: another worker, or this gateway restarted, takes
   * them at once) and not waited for: the process is about to exit, as a crash would (every job may run again).
   */
  async stop(releaseAfterMs?: number): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#deferredTimer);
    clearTimeout(this.#recheckTimer);
    this.#deferredDue = [];
    await this.#polling;
    const finished = Promise.allSettled([...this.#inFlight]).then(() => true);
    if (releaseAfterMs === undefined) {
      await finished;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), releaseAfterMs);
    });
    const done = await Promise.race([finished, late]);
    clearTimeout(timer);
    if (done) return;
    this.#released = true;
    const jobs = [...this.#runningJobs.values()];
    const released = await this.store.write((tx) => releaseLeases(tx, jobs, this.id, this.#now()));
    this.log.warn({ released }, 'shutdown: jobs still running given back, for another worker to run');
  }

  /** Set when a shutdown gave the jobs in flight back: their leases are no longer renewed. */
  #released = false;

  /**
   * How many jobs may run at once now: while the priority work is backlogged one, and none until it has done
   * PRIORITY_ITEMS_PER_JOB more items since the last job started; fewer while ingest is busy; else all.
   */
  #concurrency(): number {
    const { concurrency, busyConcurrency, priority } = this.options;
    if (priority?.backlogged) return this.#givingWay() ? 0 : 1;
    if (busyConcurrency === undefined || !this.options.busy?.()) return concurrency;
    return Math.max(1, Math.min(concurrency, busyConcurrency));
  }

  /** True while the backlogged priority work has not yet done its share since the last job started. */
  #givingWay(): boolean {
    const { priority } = this.options;
    return (
      priority?.backlogged === true &&
      priority.acknowledged - this.#startedAtAcknowledged < PRIORITY_ITEMS_PER_JOB
    );
  }

  async #poll(): Promise<void> {
    const free = this.#concurrency() - this.#inFlight.size;
    if (free <= 0) {
      if (this.#givingWay()) this.#recheckSoon();
      return;
    }
    let jobs: ClaimedJob[];
    try {
      jobs = await this.store.write(
        (tx) => claimDueJobs(tx, this.id, free, this.options.leaseMs, this.#now(), this.#runningJobs),
        WORKER_WRITE,
      );
    } catch (err) {
      this.log.error({ err }, 'outbox: could not claim jobs');
      return;
    }
    this.#startAll(jobs);
    if (jobs.length === free) this.#again = true;
  }

  /** Wakes the worker shortly while it gives way: the backlog may end without another commit to wake it. */
  #recheckSoon(): void {
    if (this.#recheckTimer !== undefined || !this.#running) return;
    this.#recheckTimer = setTimeout(() => {
      this.#recheckTimer = undefined;
      this.wake();
    }, GIVE_WAY_RECHECK_MS);
    this.#recheckTimer.unref();
  }

  #startAll(jobs: readonly ClaimedJob[]): void {
    if (jobs.length > 0) this.#startedAtAcknowledged = this.options.priority?.acknowledged ?? 0;
    for (const job of jobs) {
      this.#runningJobs.set(job.id, job);
      const run = this.#run(job).finally(() => {
        this.#inFlight.delete(run);
        this.#runningJobs.delete(job.id);
        this.wake();
      });
      this.#inFlight.add(run);
    }
  }

  /**
   * Marks a job done and commits its handler's writes. The jobs that finish together are completed
   * together: one UPDATE for all of them, and in the same transaction the claim of as many new jobs as
   * they free (a claim of its own would be one more transaction, and one more commit, per turn).
   */
  #complete(job: JobRow, result: JobResult): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#finished.push({ job, result, resolve, reject });
      if (this.#completing) return;
      this.#completing = true;
      // SQLite: others still running will finish soon; wait a moment for them and complete them all in one
      // transaction (a commit writes its pages to the log, ~170 µs however few jobs it carries, and so does
      // the claim of the jobs they free). Alone: at once. Not on PostgreSQL, where a commit costs a round
      // trip and the wait only held the jobs' slots (6.8 against 5.8 ms of gateway CPU per exam; BENCHMARKS.md).
      const gathered =
        this.store.dialect === 'sqlite' && this.#inFlight.size > COMPLETION_SIBLINGS
          ? this.#wait(COMPLETION_DELAY_MS)
          : new Promise<void>((turn) => setImmediate(turn));
      void gathered.then(() => this.#completeAll());
    });
  }

  /** Jobs that finish while a group commits form the next group (as arrivals do in ExamIngest). */
  async #completeAll(): Promise<void> {
    while (this.#finished.length > 0) await this.#completeFinished();
    this.#completing = false;
  }

  async #completeFinished(): Promise<void> {
    const items = this.#finished.splice(0);
    // The claim is made here only when no poll is claiming (the two would count the same free slots);
    // meanwhile wake() leaves it to this one, as to a poll.
    const claimHere = this.#running && this.#polling === undefined;
    let claimed: ClaimedJob[] = [];
    let release = () => {};
    if (claimHere) this.#polling = new Promise<void>((r) => (release = r));
    try {
      await this.store.write(async (tx) => {
        const now = this.#now();
        const done = await completeJobs(
          tx,
          items.map((i) => i.job),
          this.id,
          now,
        );
        for (const item of items) if (done.has(item.job.id)) await item.result?.(tx, now);
        claimed = [];
        const free = this.#concurrency() - (this.#inFlight.size - items.length);
        if (claimHere && free > 0)
          claimed = await claimDueJobs(tx, this.id, free, this.options.leaseMs, now, this.#runningJobs);
      }, WORKER_WRITE);
      for (const item of items) item.resolve();
    } catch {
      // One job's writes failed the transaction: each job on its own, so that the others still complete.
      claimed = [];
      for (const { job, result, resolve, reject } of items) {
        this.store
          .write(async (tx) => {
            const now = this.#now();
            if (await completeJob(tx, job, this.id, now)) await result?.(tx, now);
          }, WORKER_WRITE)
          .then(resolve, reject);
      }
    } finally {
      if (claimHere) {
        this.#startAll(claimed);
        this.#polling = undefined;
        release();
        if (this.#again && this.#running) {
          this.#again = false;
          this.wake();
        }
      }
    }
  }

  async #run(job: ClaimedJob): Promise<void> {
    const log = lazyChild(this.log, () => ({
      jobId: job.id,
      kind: job.kind,
      examId: job.examId,
      attempt: job.attempts,
    }));
    const handler = this.handlers[job.kind as JobKind];
    const heartbeat = this.#keepLease(job, log);
    try {
      if (!handler)
        throw Object.assign(new Error(`no handler for job kind ${job.kind}`), { retryable: false });
      const result = await handler(job, log);
      await heartbeat.stop();
      await this.#complete(job, result);
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
      if (this.#released) return;
      renewing = renewing
        .then(() =>
          this.store.write((tx) => renewLease(tx, job, this.id, leaseMs, this.#now()), WORKER_WRITE),
        )
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

  /**
   * Wakes the worker when a deferred job comes due, rather than at the next poll: a paced card is sent in its
   * slot, not up to a poll later together with the cards of the slots after it (which would bunch them).
   */
  #wakeAt(at: number): void {
    if (!this.#running) return;
    const due = this.#deferredDue;
    let i = due.length;
    while (i > 0 && (due[i - 1] as number) > at) i--;
    if (due[i - 1] === at) return;
    due.splice(i, 0, at);
    if (i === 0) this.#armDeferredTimer();
  }

  #armDeferredTimer(): void {
    clearTimeout(this.#deferredTimer);
    const next = this.#deferredDue[0];
    if (next === undefined || !this.#running) return;
    this.#deferredTimer = setTimeout(
      () => {
        const now = this.#now();
        while ((this.#deferredDue[0] ?? Number.POSITIVE_INFINITY) <= now) this.#deferredDue.shift();
        this.wake();
        this.#armDeferredTimer();
      },
      // At most a minute at a time: a clock that moved (a test's) must not leave the timer far off.
      Math.min(Math.max(0, next - this.#now()), 60_000),
    );
    this.#deferredTimer.unref();
  }

  async #fail(job: ClaimedJob, err: unknown, log: Logger): Promise<void> {
    const failure = classifyFailure(err);
    // A far side's message may repeat what it was given (a platform's refusal, a result poll's error): the
    // candidate, in any grouping or encoding, and the secrets of this process are written out here, for every
    // job, before it is logged or kept on the job (the admin page and the stuck-job card show it).
    const message = scrubText(
      job.exam ? maskCandidateIn(failure.message, job.exam.candidate) : failure.message,
    );
    const now = this.#now();
    if (failure.kind === 'deferred') {
      const runAt = failure.deferUntil ?? now;
      await this.store.write((tx) => deferJob(tx, job, this.id, runAt, now), WORKER_WRITE);
      this.stats.deferred++;
      log.debug({ reason: message, runInMs: runAt - now }, 'job deferred');
      this.#wakeAt(runAt);
      return;
    }
    if (failure.kind === 'transient') {
      if (job.maxAttempts !== NO_ATTEMPT_LIMIT && job.attempts >= job.maxAttempts) {
        // Only jobs that asked for a limit have one (a poll round: the next round asks again).
        await this.store.write((tx) => skipJob(tx, job, this.id, message, now), WORKER_WRITE);
        this.stats.skipped++;
        log.warn({ error: message, attempts: job.attempts }, 'job skipped after its last allowed attempt');
        return;
      }
      const delay = Math.max(
        backoffMs(job.attempts, this.options.baseDelayMs, this.options.maxDelayMs, this.#random),
        failure.retryAfterMs ?? 0,
      );
      await this.store.write(
        (tx) => rescheduleJob(tx, job, this.id, now + delay, message, now),
        WORKER_WRITE,
      );
      this.stats.retried++;
      log.warn({ error: message, retryInMs: delay }, 'job failed; will retry');
      return;
    }
    if (job.maxAttempts !== NO_ATTEMPT_LIMIT) {
      // A job that may be given up (a poll round): the next round asks again; no stuck-job notice.
      await this.store.write((tx) => skipJob(tx, job, this.id, message, now), WORKER_WRITE);
      this.stats.skipped++;
      log.warn(
        { error: message, attempts: job.attempts },
        'job skipped: refused, and the next round asks again',
      );
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

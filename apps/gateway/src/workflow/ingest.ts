import type { KnownEvent } from '@feishu-exam/event-core';
import type { Store } from '../store/index.js';
import { examLifecycle, type ReceiveOutcome } from './exam-lifecycle.js';

interface Waiting {
  readonly event: KnownEvent<'hire.eco_exam.created_v1'>;
  readonly resolve: (outcome: ReceiveOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Ingest is backlogged while its batches average this many events or more: pushes arrive faster than one commit's
 * worth at a time. Under a steady stream the gateway keeps up with (goal 1's 50 exams a second: a commit takes a
 * millisecond or two, the next push comes 20 ms later), a batch holds one event; under 32 connections pushing at
 * once, about sixteen.
 */
export const BACKLOG_BATCH_SIZE = 4;
/** How much of the batch size average a new batch makes up: one small batch in a burst does not end the backlog. */
const BATCH_SIZE_WEIGHT = 0.2;
/** A backlog ends once no batch has been committed for this long, however large the last ones were. */
export const BACKLOG_QUIET_MS = 10;

/**
 * Takes exam events as they arrive and commits them in batches: every event that arrives while one batch
 * commits goes into the next, which commits as soon as that one is durable. Each caller still waits for its
 * own event's commit before acknowledging.
 *
 * A batch does not wait for more events to join it. Under many concurrent pushes (32 connections), waiting
 * gathered every pusher into one batch, so the main thread sat idle through each wait and each sync (half its
 * time); without it, the pushes fall into two groups, one read while the other commits. Measured against the
 * build with the wait (and with log lines in chunks of 32 KiB, log.ts, without which each extra batch cost
 * more): 14–24 % more pushes a second at 32 connections in four runs of five (the other 2 % fewer) for 1–16 %
 * more CPU per push; 66 % more at 8 connections, for 20 % more CPU (BENCHMARKS.md, session 14).
 */
export class ExamIngest {
  readonly #waiting: Waiting[] = [];
  #flushing = false;
  #committing = false;
  #batchSizeAverage = 0;
  #lastCommitAt = Number.NEGATIVE_INFINITY;
  #acknowledged = 0;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly onCreated: () => void,
    /** A monotonic clock for the backlog's quiet window (not `now`, which a test may stop). */
    private readonly elapsedMs: () => number = () => performance.now(),
  ) {}

  /**
   * True while events wait for the commit that acknowledges them. Only then: a window after the last arrival
   * would keep it true for good under a steady stream (an event every 20 ms), and the worker would never
   * get its full share.
   */
  get busy(): boolean {
    return this.#waiting.length > 0 || this.#committing;
  }

  /**
   * True while pushes arrive faster than they are committed (the batches' average size is BACKLOG_BATCH_SIZE or
   * more, and one was committed in the last BACKLOG_QUIET_MS): the gateway's main thread is what they wait for,
   * and the outbox worker gives way (worker.ts, OutboxOptions.priority).
   */
  get backlogged(): boolean {
    return (
      this.#batchSizeAverage >= BACKLOG_BATCH_SIZE && this.elapsedMs() - this.#lastCommitAt < BACKLOG_QUIET_MS
    );
  }

  /** How many events have been committed (and so acknowledged) since this process started. */
  get acknowledged(): number {
    return this.#acknowledged;
  }

  receive(event: KnownEvent<'hire.eco_exam.created_v1'>): Promise<ReceiveOutcome> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ event, resolve, reject });
      if (this.#flushing) return;
      // The batch is taken when the store runs its transaction (#flush), a turn of the event loop later at
      // least: every push whose body arrives meanwhile joins it.
      this.#flushing = true;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    while (this.#waiting.length > 0) {
      // The batch is taken when its transaction runs, not when it is asked for: the store starts a write from
      // the next turn of the event loop (GroupCommitWriter), and the pushes read in that turn join this batch
      // instead of waiting for the next one's commit and sync. (Not measurably faster at 32 connections:
      // 1.00× the pushes a second of the build before, BENCHMARKS.md, session 23; it is what this class says.)
      let batch: Waiting[] | undefined;
      this.#committing = true;
      try {
        const outcomes = await this.store.write((tx) => {
          // Taken once: a batch the store runs again on its own (after a neighbour's rollback) is the same one.
          batch ??= this.#waiting.splice(0, 256);
          return examLifecycle.receiveMany(
            tx,
            batch.map((w) => w.event),
            this.now(),
          );
        });
        this.#committing = false;
        const committed = batch ?? [];
        this.#acknowledged += committed.length;
        this.#batchSizeAverage += BATCH_SIZE_WEIGHT * (committed.length - this.#batchSizeAverage);
        this.#lastCommitAt = this.elapsedMs();
        for (const [i, w] of committed.entries()) w.resolve(outcomes[i] as ReceiveOutcome);
        if (outcomes.includes('created')) this.onCreated();
      } catch (error) {
        this.#committing = false;
        // Refused before its transaction ran (a failed sync ended durability; the lock could not be had): the
        // pushes waiting now are refused with it, as Feishu will push them again.
        batch ??= this.#waiting.splice(0, 256);
        for (const w of batch) w.reject(error);
      }
    }
    // Set in the same synchronous run as the loop's last check: no event can slip in between.
    this.#flushing = false;
  }
}

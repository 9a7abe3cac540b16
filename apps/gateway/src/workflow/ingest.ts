import type { KnownEvent } from '@feishu-exam/event-core';
import type { Store } from '../store/index.js';
import { examLifecycle, type ReceiveOutcome } from './exam-lifecycle.js';

interface Waiting {
  readonly event: KnownEvent<'hire.eco_exam.created_v1'>;
  readonly resolve: (outcome: ReceiveOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit's delay, as PostgreSQL's commit_delay and commit_siblings: when the last batch held at least
 * COMMIT_SIBLINGS events (pushes are arriving concurrently), the next commit waits up to COMMIT_DELAY_MS for
 * more to join it, unless BATCH_FULL are waiting already. A commit's sync costs 0.3–0.4 ms of CPU however few
 * events it carries (batches of 4: 180–330 µs per event with it, 90–120 without; BENCHMARKS.md, session 6), so
 * the more pushes share one, the less each costs. A lone push (a quiet tenant) is committed at once. SQLite only.
 */
export const COMMIT_DELAY_MS = 2;
export const COMMIT_SIBLINGS = 4;
const BATCH_FULL = 32;

/**
 * Takes exam events as they arrive and commits them in batches: every event that arrives while one batch
 * commits goes into the next. Each caller still waits for its own event's commit before acknowledging.
 */
export class ExamIngest {
  readonly #waiting: Waiting[] = [];
  #flushing = false;
  #committing = false;
  #lastBatch = 0;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly onCreated: () => void,
    /** How the commit delay is waited for (tests replace it). */
    private readonly delay: (ms: number) => Promise<void> = (ms) =>
      new Promise((resume) => setTimeout(resume, ms)),
  ) {}

  /**
   * True while events wait for the commit that acknowledges them. Only then: a window after the last arrival
   * would keep it true for good under a steady stream (an event every 20 ms), and the worker would never
   * get its full share.
   */
  get busy(): boolean {
    return this.#waiting.length > 0 || this.#committing;
  }

  receive(event: KnownEvent<'hire.eco_exam.created_v1'>): Promise<ReceiveOutcome> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ event, resolve, reject });
      if (this.#flushing) return;
      // From the next turn of the event loop: every push whose body arrived in this turn joins the batch,
      // where flushing at once would commit the first of them alone.
      this.#flushing = true;
      setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    while (this.#waiting.length > 0) {
      // SQLite only: on PostgreSQL the sync is the server's, a batch's round trips already gather ~32 events,
      // and the delay only lengthened each cycle (1,416 against 1,635 pushes/s; BENCHMARKS.md).
      if (
        this.store.dialect === 'sqlite' &&
        this.#lastBatch >= COMMIT_SIBLINGS &&
        this.#waiting.length < BATCH_FULL
      ) {
        this.#committing = true; // the events waiting count as committing: the worker keeps yielding
        await this.delay(COMMIT_DELAY_MS);
      }
      const batch = this.#waiting.splice(0, 256);
      this.#lastBatch = batch.length;
      this.#committing = true;
      try {
        const outcomes = await this.store.write((tx) =>
          examLifecycle.receiveMany(
            tx,
            batch.map((w) => w.event),
            this.now(),
          ),
        );
        this.#committing = false;
        for (const [i, w] of batch.entries()) w.resolve(outcomes[i] as ReceiveOutcome);
        if (outcomes.includes('created')) this.onCreated();
      } catch (error) {
        this.#committing = false;
        for (const w of batch) w.reject(error);
      }
    }
    // Set in the same synchronous run as the loop's last check: no event can slip in between.
    this.#flushing = false;
  }
}

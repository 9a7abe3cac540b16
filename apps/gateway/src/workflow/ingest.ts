import type { KnownEvent } from '@feishu-exam/event-core';
import type { Store } from '../store/index.js';
import { examLifecycle, type ReceiveOutcome } from './exam-lifecycle.js';

/** No event for this long: the burst is over. */
const QUIET_MS = 50;

interface Waiting {
  readonly event: KnownEvent<'hire.eco_exam.created_v1'>;
  readonly resolve: (outcome: ReceiveOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Takes exam events as they arrive and commits them in batches: every event that arrives while one batch
 * commits goes into the next. Each caller still waits for its own event's commit before acknowledging.
 */
export class ExamIngest {
  readonly #waiting: Waiting[] = [];
  #flushing = false;
  #lastArrival = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly onCreated: () => void,
  ) {}

  /** True while events wait for their commit, or arrived in the last few milliseconds (a burst is on). */
  get busy(): boolean {
    return this.#waiting.length > 0 || this.#flushing || performance.now() - this.#lastArrival < QUIET_MS;
  }

  receive(event: KnownEvent<'hire.eco_exam.created_v1'>): Promise<ReceiveOutcome> {
    this.#lastArrival = performance.now();
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
      const batch = this.#waiting.splice(0, 256);
      try {
        const outcomes = await this.store.write((tx) =>
          examLifecycle.receiveMany(
            tx,
            batch.map((w) => w.event),
            this.now(),
          ),
        );
        for (const [i, w] of batch.entries()) w.resolve(outcomes[i] as ReceiveOutcome);
        if (outcomes.includes('created')) this.onCreated();
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    // Set in the same synchronous run as the loop's last check: no event can slip in between.
    this.#flushing = false;
  }
}

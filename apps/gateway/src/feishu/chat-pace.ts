// feishu: how fast cards go into the staff chat. Feishu takes at most 5 messages a second into one group, shared
// by every bot in it (im.v1.message.create, 使用限制: 向同一群组发送消息的限频为群内机器人共享 5 QPS), and refuses the
// rest with 230020 "This operation triggers the frequency limit.". A wave of exams (a campus-hiring round)
// brings cards faster than that: refused and retried with backoff, each card costs calls that Feishu refuses
// again, and the backoffs grow (up to OUTBOX_MAX_DELAY_MS), so cards arrive late and out of order.
//
// So once Feishu refuses a card for the chat's limit, the chat is paced: each card takes the next free slot, one
// every SLOT_MS, from a second after the refusal (the second it was counted in), and its job waits for that slot
// (a deferral: no call, no attempt spent). The refused card too takes a slot (workflow/jobs.ts, postCard), not
// the backoff, which let it go last in a wave it was among the first of. Until a refusal comes, cards go at once: the group's limit is shared
// with bots the gateway cannot see, so a refusal is the only sure sign it is reached, and a few cards at a time
// (the usual day) should not wait. Each replica paces its own sends; a refusal caused by another's starts it.

/** Feishu's limit for the messages of all the bots of one group, per second. */
export const GROUP_MESSAGES_PER_SECOND = 5;
/**
 * A slot every 250 ms: 4 cards a second, under the limit, leaving room for the group's other bots and for a card
 * sent a little after its slot (a send late by a few ms would otherwise share a second with five others).
 */
export const SLOT_MS = 250;
/** How long the chat stays paced after Feishu's last refusal (and for as long as slots are still taken). */
export const PACED_FOR_MS = 60_000;
/** Feishu counts a group's messages per second: the first slot after a refusal is a second later at least. */
const AFTER_REFUSAL_MS = 1000;

/** The code of Feishu's refusal of a message for the frequency limit of its chat (or its user). */
export const CHAT_RATE_LIMITED = 230020;

export class ChatPace {
  #pacedUntil = Number.NEGATIVE_INFINITY;
  /** The next slot free. */
  #nextSlot = Number.NEGATIVE_INFINITY;
  /** Slots given to cards that were deferred, by their job: when that job comes back, its slot is waiting. */
  readonly #taken = new Map<string, number>();

  /** Whether cards are being paced at `now`. */
  pacedAt(now: number): boolean {
    return now < this.#pacedUntil || now < this.#nextSlot;
  }

  /**
   * When the card of job `key` may be sent: `now` when the chat is not paced, or when the job's slot has come;
   * otherwise the job's slot (taken now, or at its last turn), which is later than `now`.
   */
  slotFor(key: string, now: number): number {
    const taken = this.#taken.get(key);
    if (taken !== undefined) {
      if (taken > now) return taken;
      this.#taken.delete(key);
      return now;
    }
    if (!this.pacedAt(now)) {
      // The pacing is over: slots given to jobs that never came back (done by another replica) are let go.
      this.#taken.clear();
      return now;
    }
    const slot = Math.max(now, this.#nextSlot);
    this.#nextSlot = slot + SLOT_MS;
    if (slot > now) this.#taken.set(key, slot);
    return slot;
  }

  /**
   * Feishu refused a card for the chat's frequency limit at `now`: the chat is paced from now on, its next slot
   * a second away at least (or when Feishu said to come back, if later). True when this refusal starts the
   * pacing (the chat was not paced), for the log to say so once.
   */
  refused(now: number, retryAfterMs = 0): boolean {
    const starts = !this.pacedAt(now);
    this.#pacedUntil = now + PACED_FOR_MS;
    this.#nextSlot = Math.max(this.#nextSlot, now + Math.max(AFTER_REFUSAL_MS, retryAfterMs));
    return starts;
  }
}

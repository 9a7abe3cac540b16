// feishu: how fast cards go into the staff chat. Feishu takes at most 5 messages a second into one group, shared
// by every bot in it (im.v1.message.create, 使用限制: 向同一群组发送消息的限频为群内机器人共享 5 QPS), and refuses the
// rest with 230020 "This operation triggers the frequency limit.". A wave of exams (a campus-hiring round)
// brings cards faster than that: refused and retried with backoff, each card costs calls that Feishu refuses
// again, and the backoffs grow (up to OUTBOX_MAX_DELAY_MS), so cards arrive late and out of order.
//
// So once Feishu refuses a card for the chat's limit, the chat is paced: each card takes the next free slot, one
// every SLOT_MS, from a second after the refusal (the second it was counted in), and its job waits for that slot
// (a deferral: no call, no attempt spent). The refused card too takes a slot (workflow/jobs.ts, postCard), not
// the backoff, which let it go last in a wave it was among the first of. Until a refusal comes, cards go at
// once: the group's limit is shared with bots the gateway cannot see, so a refusal is the only sure sign it is
// reached, and a few cards at a time (the usual day) should not wait.
//
// The pace is kept in the database (two small tables, migration 0012), so that replicas share it: a refusal met
// by one paces them all, and their cards take turns in one sequence of slots, 4 a second in all, where each
// replica pacing its own cards offered 4 a second of its own and went on meeting the limit. While the chat is
// not paced, a card costs one read (by primary keys); the writes come only while it is.
import type { Store, WriteOptions } from '../store/index.js';

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

/**
 * A pace's writes are bookkeeping: a power loss that undoes one forgets a slot or a refusal, and at worst a card
 * meets the limit once more.
 */
const PACE_WRITE: WriteOptions = { durability: 'lazy' };

/** What the database holds of a chat's pace. */
interface PaceRow {
  readonly paced_until: number | string | null;
  readonly next_slot: number | string | null;
}
/** The same, and the slot one job holds. */
interface PaceAndSlotRow extends PaceRow {
  readonly held: number | string | null;
}
/** A chat's pace row, read. */
const PACE_OF_CHAT = 'SELECT paced_until, next_slot FROM staff_chat_pace WHERE chat_id = ?';

/** A bigint column as a number (PostgreSQL's driver gives it as text). */
const millis = (value: number | string | null): number | undefined =>
  value === null ? undefined : Number(value);

/** Whether a chat whose pace is `pacedUntil` and `nextSlot` is paced at `now`. */
const pacedAt = (pacedUntil: number, nextSlot: number, now: number) => now < pacedUntil || now < nextSlot;

/** The cards of one chat (the staff chat), paced as Feishu's refusals say, for every replica on the store. */
export class ChatPace {
  /** SQLite's two-argument MAX, PostgreSQL's GREATEST. */
  readonly #greatest: string;

  constructor(
    private readonly store: Store,
    private readonly chatId: string,
  ) {
    this.#greatest = store.dialect === 'postgres' ? 'GREATEST' : 'MAX';
  }

  /** Whether cards are being paced at `now`. */
  async pacedAt(now: number): Promise<boolean> {
    const [row] = await this.store.reads.all<PaceRow>(PACE_OF_CHAT, [this.chatId]);
    return row !== undefined && pacedAt(Number(row.paced_until), Number(row.next_slot), now);
  }

  /**
   * When the card of job `key` may be sent: `now` when the chat is not paced, or when the job's slot has come;
   * otherwise the job's slot (taken now, or at its last turn, by whichever replica), which is later than `now`.
   */
  async slotFor(key: string, now: number): Promise<number> {
    const [row] = await this.store.reads.all<PaceAndSlotRow>(
      `SELECT (SELECT slot FROM staff_chat_slots WHERE job_id = ?) AS held,
              (SELECT paced_until FROM staff_chat_pace WHERE chat_id = ?) AS paced_until,
              (SELECT next_slot FROM staff_chat_pace WHERE chat_id = ?) AS next_slot`,
      [key, this.chatId, this.chatId],
    );
    const held = millis(row?.held ?? null);
    if (held !== undefined) {
      if (held > now) return held;
      await this.store.write(
        (tx) => tx.run('DELETE FROM staff_chat_slots WHERE job_id = ?', [key]),
        PACE_WRITE,
      );
      return now;
    }
    const pacedUntil = millis(row?.paced_until ?? null);
    const nextSlot = millis(row?.next_slot ?? null);
    if (pacedUntil === undefined || nextSlot === undefined) return now;
    if (!pacedAt(pacedUntil, nextSlot, now)) {
      // The pacing is over: it is forgotten, and so are slots given to jobs that never came back.
      await this.store.write(async (tx) => {
        await tx.run(
          'DELETE FROM staff_chat_pace WHERE chat_id = ? AND paced_until <= ? AND next_slot <= ?',
          [this.chatId, now, now],
        );
        await tx.run('DELETE FROM staff_chat_slots WHERE slot <= ?', [now]);
      }, PACE_WRITE);
      return now;
    }
    // The next free slot, taken in one statement: two replicas taking slots at once get one each.
    return this.store.write(async (tx) => {
      const [taken] = await tx.all<{ next_slot: number | string }>(
        `UPDATE staff_chat_pace SET next_slot = ${this.#greatest}(next_slot, ?) + ?
          WHERE chat_id = ? AND (paced_until > ? OR next_slot > ?) RETURNING next_slot`,
        [now, SLOT_MS, this.chatId, now, now],
      );
      if (!taken) return now; // the pacing ended meanwhile
      const slot = Number(taken.next_slot) - SLOT_MS;
      if (slot > now)
        await tx.run(
          'INSERT INTO staff_chat_slots (job_id, slot) VALUES (?, ?) ON CONFLICT (job_id) DO UPDATE SET slot = excluded.slot',
          [key, slot],
        );
      return slot;
    }, PACE_WRITE);
  }

  /**
   * Feishu refused a card for the chat's frequency limit at `now`: the chat is paced from now on, its next slot
   * a second away at least (or when Feishu said to come back, if later). True when this refusal starts the
   * pacing (the chat was not paced), for the log to say so once.
   */
  async refused(now: number, retryAfterMs = 0): Promise<boolean> {
    const lock = this.store.dialect === 'postgres' ? ' FOR UPDATE' : '';
    return this.store.write(async (tx) => {
      // The row first, then its lock: on PostgreSQL a SELECT … FOR UPDATE of a row not yet written locks
      // nothing, and two replicas refused at once each found the chat unpaced (each logged the start). A
      // second INSERT of the same key waits for the first transaction, and the SELECT then sees its pace.
      await tx.run(
        'INSERT INTO staff_chat_pace (chat_id, paced_until, next_slot) VALUES (?, 0, 0) ON CONFLICT (chat_id) DO NOTHING',
        [this.chatId],
      );
      const [before] = await tx.all<PaceRow>(`${PACE_OF_CHAT}${lock}`, [this.chatId]);
      const starts =
        before === undefined || !pacedAt(Number(before.paced_until), Number(before.next_slot), now);
      await tx.run(
        `UPDATE staff_chat_pace SET paced_until = ${this.#greatest}(paced_until, ?),
           next_slot = ${this.#greatest}(next_slot, ?) WHERE chat_id = ?`,
        [now + PACED_FOR_MS, now + Math.max(AFTER_REFUSAL_MS, retryAfterMs), this.chatId],
      );
      return starts;
    }, PACE_WRITE);
  }
}

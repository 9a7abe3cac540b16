import { describe, expect, it } from 'vitest';
import { ChatPace, GROUP_MESSAGES_PER_SECOND, PACED_FOR_MS, SLOT_MS } from '../src/feishu/chat-pace.js';

describe('ChatPace: cards into the staff chat at Feishu’s pace once Feishu refused one', () => {
  it('sends at once while Feishu has refused nothing', () => {
    const pace = new ChatPace();
    for (let i = 0; i < 50; i++) expect(pace.slotFor(`job-${i}`, 1000)).toBe(1000);
    expect(pace.pacedAt(1000)).toBe(false);
  });

  it('after a refusal, gives each card its own slot, a second after the refusal and SLOT_MS apart', () => {
    const pace = new ChatPace();
    pace.refused(10_000);
    const slots = ['a', 'b', 'c', 'd', 'e', 'f'].map((job) => pace.slotFor(job, 10_050));
    expect(slots).toEqual([11_000, 11_250, 11_500, 11_750, 12_000, 12_250]);
    expect(SLOT_MS).toBeGreaterThanOrEqual(1000 / GROUP_MESSAGES_PER_SECOND);
    // Never more than Feishu's 5 in any second.
    for (const [i, slot] of slots.entries())
      expect(
        slots.filter((s) => s > slot - 1000 && s <= slot).length,
        `the second ending at slot ${i}`,
      ).toBeLessThanOrEqual(GROUP_MESSAGES_PER_SECOND);
  });

  it("waits as long as Feishu's x-ogw-ratelimit-reset says, if that is longer", () => {
    const pace = new ChatPace();
    pace.refused(10_000, 3000);
    expect(pace.slotFor('a', 10_000)).toBe(13_000);
  });

  it('a deferred card gets its own slot back when it returns, without taking another', () => {
    const pace = new ChatPace();
    pace.refused(0);
    expect(pace.slotFor('a', 100)).toBe(1000);
    expect(pace.slotFor('b', 100)).toBe(1250);
    // Back too early (another clock): the same slot, not a later one.
    expect(pace.slotFor('a', 900)).toBe(1000);
    // In its slot: sent now; 'c' still queues behind 'b'.
    expect(pace.slotFor('a', 1000)).toBe(1000);
    expect(pace.slotFor('c', 1000)).toBe(1500);
    expect(pace.slotFor('b', 1260)).toBe(1260);
  });

  it('stays paced for PACED_FOR_MS after the last refusal, and while slots are still given out', () => {
    const pace = new ChatPace();
    // refused() says whether it starts the pacing (the log says so once).
    expect(pace.refused(0)).toBe(true);
    expect(pace.refused(10)).toBe(false);
    pace.refused(0);
    expect(pace.pacedAt(PACED_FOR_MS - 1)).toBe(true);
    expect(pace.pacedAt(PACED_FOR_MS)).toBe(false);
    expect(pace.slotFor('late', PACED_FOR_MS + 10)).toBe(PACED_FOR_MS + 10);
    expect(pace.refused(PACED_FOR_MS + 20)).toBe(true);

    // A backlog longer than PACED_FOR_MS: the slots run on past it, and so does the pacing.
    const busy = new ChatPace();
    busy.refused(0);
    let last = 0;
    for (let i = 0; i < 300; i++) last = busy.slotFor(`job-${i}`, 0);
    expect(last).toBe(1000 + 299 * SLOT_MS);
    expect(last).toBeGreaterThan(PACED_FOR_MS);
    expect(busy.pacedAt(PACED_FOR_MS + 1)).toBe(true);
    expect(busy.slotFor('newcomer', PACED_FOR_MS + 1)).toBe(last + SLOT_MS);
  });

  it('a later refusal moves the next slot a second past it, never before a slot already given', () => {
    const pace = new ChatPace();
    pace.refused(0);
    expect(pace.slotFor('a', 0)).toBe(1000);
    pace.refused(5000);
    expect(pace.slotFor('b', 5000)).toBe(6000);
    pace.refused(5100); // a second after it is 6100, but 6000 and its SLOT_MS are taken
    expect(pace.slotFor('c', 5100)).toBe(6250);
    pace.refused(7000);
    expect(pace.slotFor('d', 7000)).toBe(8000);
  });
});

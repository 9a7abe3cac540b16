import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatPace, GROUP_MESSAGES_PER_SECOND, PACED_FOR_MS, SLOT_MS } from '../src/feishu/chat-pace.js';
import { openStore, type Store } from '../src/store/index.js';
import { testDatabaseUrl, testStoreOptions } from './support.js';

// Runs on SQLite, and on PostgreSQL with TEST_DATABASE=postgres (CI does both).
const silent = pino({ level: 'silent' });
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
async function storeAt(url: string): Promise<Store> {
  const store = await openStore(url, silent, testStoreOptions);
  stores.push(store);
  return store;
}
/** The staff chat's pace on a fresh database. */
const freshPace = async () => new ChatPace(await storeAt(testDatabaseUrl()), 'oc_staff');

describe('ChatPace: cards into the staff chat at Feishu’s pace once Feishu refused one', () => {
  it('sends at once while Feishu has refused nothing', async () => {
    const pace = await freshPace();
    for (let i = 0; i < 50; i++) expect(await pace.slotFor(`job-${i}`, 1000)).toBe(1000);
    expect(await pace.pacedAt(1000)).toBe(false);
  });

  it('after a refusal, gives each card its own slot, a second after the refusal and SLOT_MS apart', async () => {
    const pace = await freshPace();
    await pace.refused(10_000);
    const slots: number[] = [];
    for (const job of ['a', 'b', 'c', 'd', 'e', 'f']) slots.push(await pace.slotFor(job, 10_050));
    expect(slots).toEqual([11_000, 11_250, 11_500, 11_750, 12_000, 12_250]);
    expect(SLOT_MS).toBeGreaterThanOrEqual(1000 / GROUP_MESSAGES_PER_SECOND);
    // Never more than Feishu's 5 in any second.
    for (const [i, slot] of slots.entries())
      expect(
        slots.filter((s) => s > slot - 1000 && s <= slot).length,
        `the second ending at slot ${i}`,
      ).toBeLessThanOrEqual(GROUP_MESSAGES_PER_SECOND);
  });

  it("waits as long as Feishu's x-ogw-ratelimit-reset says, if that is longer", async () => {
    const pace = await freshPace();
    await pace.refused(10_000, 3000);
    expect(await pace.slotFor('a', 10_000)).toBe(13_000);
  });

  it('a deferred card gets its own slot back when it returns, without taking another', async () => {
    const pace = await freshPace();
    await pace.refused(0);
    expect(await pace.slotFor('a', 100)).toBe(1000);
    expect(await pace.slotFor('b', 100)).toBe(1250);
    // Back too early (another clock): the same slot, not a later one.
    expect(await pace.slotFor('a', 900)).toBe(1000);
    // In its slot: sent now; 'c' still queues behind 'b'.
    expect(await pace.slotFor('a', 1000)).toBe(1000);
    expect(await pace.slotFor('c', 1000)).toBe(1500);
    expect(await pace.slotFor('b', 1260)).toBe(1260);
    // Refused again after its slot was used: a new slot, after those given out.
    await pace.refused(1300);
    expect(await pace.slotFor('b', 1300)).toBe(2300);
  });

  it('stays paced for PACED_FOR_MS after the last refusal, and while slots are still given out', async () => {
    const pace = await freshPace();
    // refused() says whether it starts the pacing (the log says so once).
    expect(await pace.refused(0)).toBe(true);
    expect(await pace.refused(10)).toBe(false);
    expect(await pace.pacedAt(PACED_FOR_MS + 9)).toBe(true);
    expect(await pace.pacedAt(PACED_FOR_MS + 10)).toBe(false);
    expect(await pace.slotFor('late', PACED_FOR_MS + 20)).toBe(PACED_FOR_MS + 20);
    expect(await pace.refused(PACED_FOR_MS + 30)).toBe(true);

    // A backlog longer than PACED_FOR_MS: the slots run on past it, and so does the pacing.
    const busy = await freshPace();
    await busy.refused(0);
    let last = 0;
    for (let i = 0; i < 300; i++) last = await busy.slotFor(`job-${i}`, 0);
    expect(last).toBe(1000 + 299 * SLOT_MS);
    expect(last).toBeGreaterThan(PACED_FOR_MS);
    expect(await busy.pacedAt(PACED_FOR_MS + 1)).toBe(true);
    expect(await busy.slotFor('newcomer', PACED_FOR_MS + 1)).toBe(last + SLOT_MS);
  });

  it('a later refusal moves the next slot a second past it, never before a slot already given', async () => {
    const pace = await freshPace();
    await pace.refused(0);
    expect(await pace.slotFor('a', 0)).toBe(1000);
    await pace.refused(5000);
    expect(await pace.slotFor('b', 5000)).toBe(6000);
    await pace.refused(5100); // a second after it is 6100, but 6000 and its SLOT_MS are taken
    expect(await pace.slotFor('c', 5100)).toBe(6250);
    await pace.refused(7000);
    expect(await pace.slotFor('d', 7000)).toBe(8000);
  });

  it('once the pacing is over, it is forgotten with the slots of jobs that never came back', async () => {
    const store = await storeAt(testDatabaseUrl());
    const pace = new ChatPace(store, 'oc_staff');
    await pace.refused(0);
    expect(await pace.slotFor('gone', 0)).toBe(1000);
    const rows = async () => [
      ...(await store.reads.all('SELECT chat_id FROM staff_chat_pace')),
      ...(await store.reads.all('SELECT job_id FROM staff_chat_slots')),
    ];
    expect(await rows()).toHaveLength(2);
    expect(await pace.slotFor('next', PACED_FOR_MS + 1)).toBe(PACED_FOR_MS + 1);
    expect(await rows()).toEqual([]);
  });
});

describe('replicas share one pace', () => {
  it('a refusal met by one replica paces the other, and their cards take turns in one sequence of slots', async () => {
    const url = testDatabaseUrl();
    const one = new ChatPace(await storeAt(url), 'oc_staff');
    const other = new ChatPace(await storeAt(url), 'oc_staff');
    expect(await one.refused(10_000)).toBe(true);
    // The other replica was not refused, and still is paced: Feishu's limit is the chat's.
    expect(await other.refused(10_010)).toBe(false);
    const taken = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? one : other).slotFor(`job-${i}`, 10_050)),
    );
    // Twelve different slots, SLOT_MS apart from a second after the last refusal: 4 a second between them.
    expect([...taken].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 12 }, (_, i) => 11_010 + i * SLOT_MS),
    );
    // A card deferred by one replica and claimed by the other keeps its slot there.
    expect(await other.slotFor('job-0', 10_500)).toBe(taken[0]);
    expect(await other.slotFor('job-0', taken[0] as number)).toBe(taken[0]);
  });

  it('refusals met at once by both replicas start the pacing once (the log says so once)', async () => {
    const url = testDatabaseUrl();
    const replicas = [
      new ChatPace(await storeAt(url), 'oc_staff'),
      new ChatPace(await storeAt(url), 'oc_staff'),
    ];
    const starts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (replicas[i % 2] as ChatPace).refused(10_000 + i)),
    );
    expect(starts.filter(Boolean)).toHaveLength(1);
    expect(await (replicas[1] as ChatPace).slotFor('a', 10_100)).toBe(11_007);
  });

  it('another chat is paced apart', async () => {
    const url = testDatabaseUrl();
    const staff = new ChatPace(await storeAt(url), 'oc_staff');
    const elsewhere = new ChatPace(await storeAt(url), 'oc_elsewhere');
    await staff.refused(0);
    expect(await elsewhere.slotFor('a', 10)).toBe(10);
    expect(await staff.slotFor('b', 10)).toBe(1000);
  });
});

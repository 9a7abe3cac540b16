// Feishu patches a message only within 14 days of sending it (im.v1.message.patch, 使用限制): a card refresh
// that comes later (a result weeks after the exam arrived) posts a new card, which stands for the exam from
// then on; a card within the window is patched as before.
import { afterEach, describe, expect, it } from 'vitest';
import { enqueueJob } from '../src/outbox/jobs.js';
import { ExamEntity, type ExamRow } from '../src/store/index.js';
import { CARD_PATCH_WINDOW_MS, examLifecycle } from '../src/workflow/exam-lifecycle.js';
import { tenancy } from '../src/workflow/tenants.js';
import { examCreatedEvent, recordingPlatform, startTestGateway, type TestGateway } from './support.js';

let gateway: TestGateway | undefined;
let platform: Awaited<ReturnType<typeof recordingPlatform>> | undefined;
afterEach(async () => {
  await gateway?.close();
  await platform?.close();
  gateway = undefined;
  platform = undefined;
});

const until = async <T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> => {
  for (let i = 0; i < 500; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never happened: ${what}`);
};

describe('a card older than Feishu lets a message be patched', () => {
  it('is replaced by a new card, which later refreshes patch', async () => {
    platform = await recordingPlatform();
    let clock = Date.UTC(2026, 10, 1);
    const gw = await startTestGateway(
      { FEISHU_DOMAIN: platform.url, OUTBOX_POLL_MS: '20', LOG_LEVEL: 'info' },
      { now: () => clock },
    );
    gateway = gw;
    const calls = platform.calls;
    const exam = () => gw.store.findOneBy(ExamEntity, { examId: 'e-old' });
    const refresh = async (n: number) => {
      await gw.store.write((tx) =>
        enqueueJob(
          tx,
          { kind: 'refresh_card', examId: 'e-old', tenantKey: 't1', idempotencyKey: `refresh-${n}` },
          clock,
        ),
      );
      gw.worker.wake();
    };

    await gw.store.write((tx) => examLifecycle.receiveMany(tx, [examCreatedEvent('e-old')], clock));
    gw.worker.wake();
    const posted = await until(
      'the card posted',
      async () => (await exam())?.cardMessageId && (await exam()),
    );
    expect(posted).toMatchObject({ cardMessageId: 'om_1', cardPostedAt: clock });

    // Within the window: patched in place.
    clock += CARD_PATCH_WINDOW_MS - 60_000;
    await refresh(1);
    await until('the first patch', async () => calls.some((c) => c.method === 'PATCH'));
    expect(calls.filter((c) => c.method === 'PATCH').map((c) => c.path)).toEqual([
      '/open-apis/im/v1/messages/om_1',
    ]);

    // Past it: a new card in the staff chat, and the exam's card is the new one.
    clock += 2 * 60_000;
    await refresh(2);
    const replaced = await until(
      'the card replaced',
      async () => (await exam())?.cardMessageId === 'om_2' && ((await exam()) as ExamRow),
    );
    expect(replaced.cardPostedAt).toBe(clock);
    const creates = calls.filter(
      (c) => c.method === 'POST' && c.path.startsWith('/open-apis/im/v1/messages'),
    );
    expect(creates).toHaveLength(2);
    const [first, second] = creates as [(typeof creates)[number], (typeof creates)[number]];
    expect(second.body).toMatchObject({
      receive_id: 'oc_staff_chat_0001',
      msg_type: 'interactive',
      uuid: expect.stringMatching(/^anew-/),
    });
    expect(String(second.body.uuid).length).toBeLessThanOrEqual(50);
    expect(JSON.parse(second.body.content as string)).toEqual(JSON.parse(first.body.content as string));
    expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(1);
    expect(
      gw.logs().some((l) => l.msg === 'card too old to update: posted anew' && l.replaced === 'om_1'),
    ).toBe(true);

    // A customer's new state (it stopped the app) on a card too old to patch: the card is left as it is, where
    // a new card for every open exam would flood the staff chat.
    clock += CARD_PATCH_WINDOW_MS;
    const policy = { marketplace: false, staffTenantKey: undefined, accountFields: [] };
    await gw.store.write((tx) => tenancy.lifecycle(tx, 't1', 'cli_1', 'stopped', clock, policy, clock));
    gw.worker.wake();
    await until('the tenant refresh done', async () =>
      gw.logs().some((l) => l.msg === "card too old to update: the customer's new state is not shown"),
    );
    expect(calls.filter((c) => c.path.startsWith('/open-apis/im/v1/messages'))).toHaveLength(3);
    expect((await exam())?.cardMessageId).toBe('om_2');
    await gw.store.write((tx) => tenancy.lifecycle(tx, 't1', 'cli_1', 'active', clock + 1, policy, clock));
    gw.worker.wake();
    // The customer's return queues a refresh of its own: done at this time (the card still too old) before the
    // clock goes back. Left running, it read the clock after and patched the card too.
    await until('every job done', async () => {
      const open = await gw.store.write((tx) =>
        tx.all("SELECT id FROM outbox_jobs WHERE state IN ('pending', 'running')"),
      );
      return open.length === 0;
    });
    expect(calls.filter((c) => c.path.startsWith('/open-apis/im/v1/messages'))).toHaveLength(3);
    clock -= CARD_PATCH_WINDOW_MS;

    // The new card is patched by the next refresh.
    clock += 60_000;
    await refresh(3);
    await until('the second patch', async () => calls.filter((c) => c.method === 'PATCH').length >= 2);
    await gw.worker.stop();
    expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(2);
    expect(calls.filter((c) => c.method === 'PATCH').at(-1)?.path).toBe('/open-apis/im/v1/messages/om_2');
    expect(
      calls.filter((c) => c.method === 'POST' && c.path.startsWith('/open-apis/im/v1/messages')),
    ).toHaveLength(2);
  });
});

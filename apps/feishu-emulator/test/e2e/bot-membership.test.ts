// The bot is removed from the staff chat, then added back, as Feishu tells the app (机器人被移出群
// im.chat.member.bot.deleted_v1, 机器人进群 im.chat.member.bot.added_v1; https://open.feishu.cn/document/server-docs/group/chat-member/event/deleted).
// While the bot is out, im.v1.message.create answers 230002 "The bot can not be outside the group. |
// 机器人不在对应群组中。你需要将应用机器人添加到消息相应的群组中" (发送消息, 错误码). Once the bot is back, an exam
// that arrived meanwhile should get its approval card: staff cannot decide an exam they never see.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator } from '../../src/index.js';
import {
  app,
  CHAT,
  cardsFor,
  examPayload,
  type GatewayProcess,
  type Platform,
  startGateway,
  until,
} from './harness.js';

let platform: Platform;
let gateway: GatewayProcess;
/** The chats the bot is in (the emulator reads the app's `chats` on each call): not the staff chat, at first. */
const botChats: string[] = ['oc_some_other_chat'];
const admin = { authorization: 'Bearer e2e-admin-token-0123456789' };

beforeAll(async () => {
  const emulator = createEmulator({
    apps: [{ ...app, chats: botChats }],
    retrySchedule: [100, 200, 400, 800],
    deliveryTimeoutMs: 3000,
  });
  platform = { emulator, running: await emulator.listen() };
  gateway = await startGateway(platform);
});
afterAll(async () => {
  await gateway.stop();
  await platform.running.close();
});

const deadJobs = async () =>
  (
    (await (await fetch(`${gateway.url}/admin/jobs?state=dead`, { headers: admin })).json()) as {
      jobs: Array<{ examId: string | null; kind: string; lastError: string }>;
    }
  ).jobs;

describe('the bot removed from the staff chat, then added back', () => {
  it('an exam that arrived while the bot was out gets its card once the bot is back', async () => {
    const events = `${gateway.url}/webhook/event`;
    await platform.emulator.pushExam(events, examPayload('e2e-bot-out'));
    let dead: { lastError: string } | undefined;
    for (let i = 0; i < 400 && !dead; i++) {
      dead = (await deadJobs()).find((j) => j.examId === 'e2e-bot-out' && j.kind === 'post_card');
      if (!dead) await new Promise((r) => setTimeout(r, 50));
    }
    // Feishu refused the card: the bot is not in the chat.
    expect(dead?.lastError).toMatch(/230002/);
    // The stuck-job notice goes to the same chat, and is refused too.
    await until('the notice refused too', async () =>
      (await deadJobs()).some((j) => j.kind === 'notify_dead' && /230002/.test(j.lastError)),
    );
    // And nothing else under way (on a slow machine a second notice may still be running): every job settled.
    await until('every job settled', async () =>
      (
        (await (await fetch(`${gateway.url}/admin/jobs`, { headers: admin })).json()) as {
          jobs: Array<{ state: string }>;
        }
      ).jobs.every((j) => j.state !== 'pending' && j.state !== 'running'),
    );
    expect(cardsFor(platform.emulator, 'e2e-bot-out')).toHaveLength(0);

    // Someone adds the bot back; Feishu tells the app.
    botChats.push(CHAT);
    const pushed = await platform.emulator.pushEventOfType(events, 'im.chat.member.bot.added_v1', {
      chat_id: CHAT,
      operator_id: { open_id: 'ou_chat_owner', union_id: 'on_chat_owner' },
      external: false,
      operator_tenant_key: 'tenant_demo_0001',
      name: 'Staff chat',
    });
    expect(pushed.map((a) => a.status)).toEqual([200]);
    await until(
      'the card, once the bot is back',
      () => cardsFor(platform.emulator, 'e2e-bot-out')[0],
      10_000,
    );
    // The stuck-job notice, refused too while the bot was out, is revived with the card and then finds nothing
    // stuck: no "needs attention" card for a card that was posted, and nothing dead is left.
    await until('no dead job left', async () => (await deadJobs()).length === 0, 10_000);
    const jobs = async () =>
      (
        (await (await fetch(`${gateway.url}/admin/jobs`, { headers: admin })).json()) as {
          jobs: Array<{ kind: string; state: string }>;
        }
      ).jobs;
    await until('the notice done', async () =>
      (await jobs()).some((j) => j.kind === 'notify_dead' && j.state === 'done'),
    );
    // The card is in the chat as soon as Feishu took it; its job is done once the worker's completion commits
    // right after (it was seen still running in between).
    await until('the card job done', async () =>
      (await jobs()).some((j) => j.kind === 'post_card' && j.state === 'done'),
    );
    expect((await jobs()).filter((j) => j.kind === 'post_card').map((j) => j.state)).toEqual(['done']);
    expect(
      [...platform.emulator.state.messages.values()].filter((m) =>
        m.content.includes('An exam needs attention'),
      ),
    ).toEqual([]);
  }, 60_000);

  it('a chat the gateway does not post to: acknowledged, nothing revived', async () => {
    const pushed = await platform.emulator.pushEventOfType(
      `${gateway.url}/webhook/event`,
      'im.chat.member.bot.deleted_v1',
      { chat_id: 'oc_some_other_chat', operator_id: { open_id: 'ou_chat_owner' } },
    );
    expect(pushed.map((a) => a.status)).toEqual([200]);
  });
});

// The emulator's im endpoints answer the codes Feishu documents for a bot outside the chat and for a
// message too old to patch.
// - 发送消息 (https://open.feishu.cn/document/server-docs/im-v1/message/create, 错误码): "400 | 230002 | The bot
//   can not be outside the group. | 机器人不在对应群组中".
// - 更新已发送的消息卡片 (https://open.feishu.cn/document/server-docs/im-v1/message-card/patch, 错误码): "400 |
//   230031 | Message can only be modified within 14 days after sending."
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator, type RunningEmulator } from '../src/index.js';

const app = {
  appId: 'cli_audit_im',
  appSecret: 'audit-im-secret',
  encryptKey: 'audit-im-encrypt-key',
  verificationToken: 'audit-im-token',
  // The bot is in this chat only (the emulator's own setting: im.v1.chat.get answers 230002 for others).
  chats: ['oc_bot_is_here'],
};
let emulator: Emulator;
let running: RunningEmulator;

const call = async (method: string, path: string, body: unknown, token: string) => {
  const response = await fetch(`${running.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    json: (await response.json()) as { code: number; data?: { message_id?: string } },
  };
};
const token = async () => {
  const response = await fetch(`${running.url}/open-apis/auth/v3/tenant_access_token/internal`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ app_id: app.appId, app_secret: app.appSecret }),
  });
  return ((await response.json()) as { tenant_access_token: string }).tenant_access_token;
};
const card = JSON.stringify({
  schema: '2.0',
  config: { update_multi: true },
  body: { elements: [{ tag: 'markdown', content: 'hi' }] },
});
const send = (t: string, chatId: string) =>
  call(
    'POST',
    '/open-apis/im/v1/messages?receive_id_type=chat_id',
    { receive_id: chatId, msg_type: 'interactive', content: card },
    t,
  );

beforeAll(async () => {
  emulator = createEmulator({ apps: [app] });
  running = await emulator.listen();
});
afterAll(() => running.close());

describe('im codes as Feishu documents them', () => {
  it('refuses a message to a chat the bot is not in with 230002, as im.v1.chat.get already does', async () => {
    const t = await token();
    expect((await send(t, 'oc_bot_is_here')).json.code).toBe(0);
    const refused = await send(t, 'oc_bot_was_removed');
    expect({ status: refused.status, code: refused.json.code }).toEqual({ status: 400, code: 230002 });
  });

  it('refuses a patch of a message sent more than 14 days ago with 230031', async () => {
    const t = await token();
    const id = (await send(t, 'oc_bot_is_here')).json.data?.message_id as string;
    emulator.backdateMessage(id, 15 * 24 * 3_600_000);
    const refused = await call('PATCH', `/open-apis/im/v1/messages/${id}`, { content: card }, t);
    expect({ status: refused.status, code: refused.json.code }).toEqual({ status: 400, code: 230031 });
  });
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from '@feishu-exam/event-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEmulator, type Emulator, FeishuCode, type RunningEmulator } from '../src/index.js';

const app = {
  appId: 'cli_emu',
  appSecret: 'emu-secret',
  encryptKey: 'emu-encrypt-key',
  verificationToken: 'emu-token',
};
let emulator: Emulator;
let running: RunningEmulator;
const call = async (method: string, path: string, body?: unknown, token?: string) => {
  const response = await fetch(`${running.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: test reads arbitrary Feishu answers
  return { status: response.status, json: (await response.json()) as Record<string, any> };
};
const token = async () =>
  (
    await call('POST', '/open-apis/auth/v3/tenant_access_token/internal', {
      app_id: app.appId,
      app_secret: app.appSecret,
    })
  ).json.tenant_access_token as string;
const card = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    schema: '2.0',
    config: { update_multi: true },
    header: { title: { tag: 'plain_text', content: 't' } },
    body: { elements: [{ tag: 'markdown', content: 'hi' }] },
    ...extra,
  });
const send = async (t: string, content = card(), uuid?: string) =>
  call(
    'POST',
    '/open-apis/im/v1/messages?receive_id_type=chat_id',
    { receive_id: 'oc_1', msg_type: 'interactive', content, ...(uuid ? { uuid } : {}) },
    t,
  );

beforeAll(async () => {
  emulator = createEmulator({ apps: [app], retrySchedule: [20, 20, 20, 20], deliveryTimeoutMs: 500 });
  running = await emulator.listen();
});
afterAll(() => running.close());
beforeEach(() => emulator.clearFaults());

describe('Open Platform endpoints', () => {
  it('issues tenant tokens in the flat shape, and refuses a wrong secret with 10014', async () => {
    const ok = await call('POST', '/open-apis/auth/v3/tenant_access_token/internal', {
      app_id: app.appId,
      app_secret: app.appSecret,
    });
    expect(ok.json).toMatchObject({
      code: 0,
      tenant_access_token: expect.stringMatching(/^t-/),
      expire: 7200,
    });
    const bad = await call('POST', '/open-apis/auth/v3/tenant_access_token/internal', {
      app_id: app.appId,
      app_secret: 'nope',
    });
    expect(bad.json).toMatchObject({ code: 10014 });
  });

  it('requires a bearer token it issued', async () => {
    expect((await send('')).json.code).toBe(99991661);
    expect((await send('t-forged')).json).toMatchObject({
      code: 99991663,
      error: { log_id: expect.any(String) },
    });
  });

  it('creates a message once per uuid, and refuses a malformed card 2.0', async () => {
    const t = await token();
    const first = await send(t, card(), 'uuid-1');
    const again = await send(t, card(), 'uuid-1');
    expect(first.json).toMatchObject({
      code: 0,
      data: { message_id: expect.stringMatching(/^om_/), chat_id: 'oc_1' },
    });
    expect(again.json.data.message_id).toBe(first.json.data.message_id);
    // Feishu dedupes a uuid for an hour (在 1 小时内至多成功发送一条消息): a repeat later is a new message.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 59 * 60_000 });
    try {
      expect((await send(t, card(), 'uuid-1')).json.data.message_id).toBe(first.json.data.message_id);
      vi.setSystemTime(Date.now() + 2 * 60_000);
      const later = await send(t, card(), 'uuid-1');
      expect(later.json).toMatchObject({ code: 0, data: { message_id: expect.stringMatching(/^om_/) } });
      expect(later.json.data.message_id).not.toBe(first.json.data.message_id);
    } finally {
      vi.useRealTimers();
    }
    expect((await send(t, card({ wide: true }))).json.code).toBe(230099);
    expect((await send(t, card({ config: { update_multi: false } }))).json.code).toBe(230099);
    expect(
      (
        await send(
          t,
          JSON.stringify({
            schema: '2.0',
            config: { update_multi: true },
            body: { elements: [{ content: 'no tag' }] },
          }),
        )
      ).json.code,
    ).toBe(230099);
    const missing = await call(
      'POST',
      '/open-apis/im/v1/messages',
      { receive_id: 'oc_1', msg_type: 'interactive', content: card() },
      t,
    );
    expect(missing.json).toMatchObject({
      code: 99992402,
      error: { field_violations: [{ field: 'receive_id_type' }] },
    });
  });

  it('patches a card in place, keeping JSON 2.0', async () => {
    const t = await token();
    const id = (await send(t)).json.data.message_id as string;
    expect(
      (
        await call(
          'PATCH',
          `/open-apis/im/v1/messages/${id}`,
          { content: card({ header: { title: { tag: 'plain_text', content: 'new' } } }) },
          t,
        )
      ).json.code,
    ).toBe(0);
    expect(emulator.state.messages.get(id)?.history.map((h) => h.via)).toEqual(['create', 'patch']);
    expect(
      (
        await call(
          'PATCH',
          `/open-apis/im/v1/messages/${id}`,
          { content: JSON.stringify({ elements: [] }) },
          t,
        )
      ).json.code,
    ).toBe(230099);
    expect((await call('PATCH', '/open-apis/im/v1/messages/om_none', { content: card() }, t)).json.code).toBe(
      230011,
    );
  });

  it('patches a message only within 14 days of sending it, as Feishu documents', async () => {
    const t = await token();
    const id = (await send(t)).json.data.message_id as string;
    const patch = () => call('PATCH', `/open-apis/im/v1/messages/${id}`, { content: card() }, t);
    emulator.backdateMessage(id, 13 * 24 * 3_600_000);
    expect((await patch()).json.code).toBe(0);
    emulator.backdateMessage(id, 2 * 24 * 3_600_000);
    expect((await patch()).json).toMatchObject({ code: FeishuCode.messageTooOld });
    expect(emulator.state.messages.get(id)?.history.map((h) => h.via)).toEqual(['create', 'patch']);
  });

  it('validates login_info and update_result like Feishu', async () => {
    const t = await token();
    expect(
      (
        await call(
          'POST',
          '/open-apis/hire/v1/eco_exams/e1/login_info',
          { result: 0, exam_login_info: { exam_url: 'https://x' } },
          t,
        )
      ).json.code,
    ).toBe(0);
    expect(
      (
        await call(
          'POST',
          '/open-apis/hire/v1/eco_exams/e1/login_info',
          { result: 0, exam_login_info: {} },
          t,
        )
      ).json.code,
    ).toBe(99992402);
    expect(
      (
        await call(
          'POST',
          '/open-apis/hire/v1/eco_exams/e1/login_info',
          { result: 1, msg: 'rejected', exam_login_info: { exam_url: '' } },
          t,
        )
      ).json.code,
    ).toBe(0);
    expect(
      (await call('POST', '/open-apis/hire/v1/eco_exams/e1/update_result', { result: 60.5 }, t)).json.code,
    ).toBe(99992402);
    expect(
      (await call('POST', '/open-apis/hire/v1/eco_exams/e1/update_result', { result: '60.5' }, t)).json.code,
    ).toBe(0);
  });

  it('takes update_result times as millisecond timestamps, as Feishu documents them', async () => {
    const t = await token();
    const update = async (body: unknown) =>
      (await call('POST', '/open-apis/hire/v1/eco_exams/e2/update_result', body, t)).json;
    const report = { name: '张三的笔试结果.pdf', url: 'https://x/r.pdf' };
    expect(
      await update({
        result: '60.5',
        result_time: '1658676234053',
        report_list: [{ ...report, answer_time: '1658676234053' }],
        detail_list: [{ id: 'pj001', name: '基本功', result: '优秀' }],
      }),
    ).toMatchObject({ code: 0 });
    // A duration in seconds is not a timestamp.
    expect(await update({ result: '60.5', report_list: [{ ...report, answer_time: '1800' }] })).toMatchObject(
      {
        code: 99992402,
        error: { field_violations: [{ field: 'report_list[0].answer_time' }] },
      },
    );
    expect(await update({ result: '60.5', result_time: 1658676234053 })).toMatchObject({
      code: 99992402,
      error: { field_violations: [{ field: 'result_time' }] },
    });
    expect(await update({ result: '60.5', report_list: [{ name: 'no url' }] })).toMatchObject({
      code: 99992402,
    });
    expect(await update({ result: '60.5', detail_list: [{ name: 'x' }] })).toMatchObject({ code: 99992402 });
  });

  it("refuses what Feishu's login_info and update_result declarations refuse, naming the field", async () => {
    const t = await token();
    const violation = async (path: string, body: unknown) => {
      const answer = (await call('POST', `/open-apis/hire/v1/eco_exams/e3/${path}`, body, t)).json;
      return answer.code === 0 ? 'accepted' : answer.error.field_violations[0].field;
    };
    // exam_url is required whatever the result (the SDK's `exam_login_info: {exam_url: string}`).
    expect(await violation('login_info', { result: 2, exam_login_info: {} })).toBe(
      'exam_login_info.exam_url',
    );
    expect(await violation('login_info', { result: 2, msg: 7, exam_login_info: { exam_url: '' } })).toBe(
      'msg',
    );
    expect(
      await violation('login_info', { exam_login_info: { exam_url: 'https://x', password: 1234 } }),
    ).toBe('exam_login_info.password');
    expect(
      await violation('update_result', { result: '1', detail_list: [{ id: 1, name: 'n', result: 'r' }] }),
    ).toBe('detail_list[0].id');
    expect(await violation('update_result', { result: '1', report_list: {} })).toBe('report_list');
  });

  it('checks eco_exam_papers as Feishu declares them: int counts, millisecond strings, start before end', async () => {
    const t = await token();
    const create = async (paper: Record<string, unknown>) => {
      const body = {
        account_id: 'acc-v',
        paper_list: [
          { id: 'p1', name: 'One' },
          { id: 'p2', name: 'Two', ...paper },
        ],
      };
      const answer = (await call('POST', '/open-apis/hire/v1/eco_exam_papers', body, t)).json;
      return answer.code === 0 ? 'accepted' : answer.error.field_violations[0].field;
    };
    expect(
      await create({
        duration: 30,
        question_count: 10,
        start_time: '1700000000000',
        end_time: '1700003600000',
      }),
    ).toBe('accepted');
    // "留空或不传表示不限制": an empty time is no limit.
    expect(await create({ start_time: '', end_time: '1700003600000' })).toBe('accepted');
    expect(await create({ duration: 22.5 })).toBe('paper_list[1].duration');
    expect(await create({ duration: '30' })).toBe('paper_list[1].duration');
    expect(await create({ question_count: 1.5 })).toBe('paper_list[1].question_count');
    expect(await create({ start_time: 1700000000000 })).toBe('paper_list[1].start_time');
    expect(await create({ end_time: '2024-01-01' })).toBe('paper_list[1].end_time');
    expect(await create({ start_time: '1700003600000', end_time: '1700003600000' })).toBe(
      'paper_list[1].end_time',
    );
    const remove = async (ids: unknown) =>
      (
        await call(
          'POST',
          '/open-apis/hire/v1/eco_exam_papers/batch_delete',
          { account_id: 'acc-v', paper_id_list: ids },
          t,
        )
      ).json.code;
    expect(await remove(['p1', 'gone'])).toBe(0);
    expect(await remove([1])).toBe(99992402);
  });

  it('checks eco_account_custom_fields as Feishu declares them: key once, i18n name, is_required a boolean', async () => {
    const t = await token();
    const good = { key: 'org', name: { zh_cn: '机构', en_us: 'Org' }, is_required: true };
    const register = async (...fields: unknown[]) => {
      const body = { scope: 2, custom_field_list: fields };
      const answer = (await call('POST', '/open-apis/hire/v1/eco_account_custom_fields', body, t)).json;
      return answer.code === 0 ? 'accepted' : answer.error.field_violations[0].field;
    };
    expect(await register(good, { ...good, key: 'tag', description: { en_us: 'a hint' } })).toBe('accepted');
    expect(await register({ key: 'org', name: { en_us: 'Org' } })).toBe('custom_field_list[0].is_required');
    expect(await register({ ...good, is_required: 'true' })).toBe('custom_field_list[0].is_required');
    expect(await register({ ...good, name: 'Org' })).toBe('custom_field_list[0].name');
    expect(await register({ ...good, name: { en_us: 5 } })).toBe('custom_field_list[0].name.en_us');
    expect(await register({ ...good, description: 'a hint' })).toBe('custom_field_list[0].description');
    expect(await register(good, good)).toBe('custom_field_list[1].key');
    expect(await register({ ...good, key: '' })).toBe('custom_field_list[0].key');
  });
});

describe('faults and records', () => {
  it('fails the next N matching calls with each kind, records them, and spares other endpoints', async () => {
    const t = await token();
    emulator.injectFaults({ match: '/im/v1/messages', kind: 'http_500', count: 1 });
    emulator.injectFaults({ match: '/im/v1/messages', kind: 'rate_limit', count: 1 });
    expect((await send(t)).status).toBe(500);
    const limited = await fetch(`${running.url}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t}` },
      body: JSON.stringify({ receive_id: 'oc', msg_type: 'interactive', content: card() }),
    });
    expect([limited.status, limited.headers.get('x-ogw-ratelimit-reset')]).toEqual([429, '1']);
    expect((await send(t)).json.code).toBe(0);
    emulator.injectFaults({ match: '/im/v1/messages', kind: 'token_expired', count: 1 });
    expect((await send(t)).json.code).toBe(99991663);
    expect((await send(t)).json.code).toBe(99991663);
    expect((await send(await token())).json.code).toBe(0);
    const { json } = await call('GET', '/_emulator/calls?path=/im/v1/messages');
    expect(
      json.calls.filter((c: { fault?: string }) => c.fault).map((c: { fault: string }) => c.fault),
    ).toEqual(expect.arrayContaining(['http_500', 'rate_limit', 'token_expired']));
  });

  it("with POST /_emulator/group-limit {per_second: 5}, a group's sixth message within a second is refused as Feishu does (HTTP 400, 230020); a repeat of a sent uuid is not a new message", async () => {
    const t = await token();
    expect((await call('POST', '/_emulator/group-limit', { per_second: 0 })).status).toBe(400);
    expect((await call('POST', '/_emulator/group-limit', { per_second: 5 })).json).toEqual({
      ok: true,
      per_second: 5,
    });
    try {
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push(await send(t, card(), `limit-${i}`));
      expect(answers.slice(0, 5).map((a) => a.json.code)).toEqual([0, 0, 0, 0, 0]);
      expect([answers[5]?.status, answers[5]?.json.code, answers[5]?.json.msg]).toEqual([
        400,
        230020,
        'This operation triggers the frequency limit.',
      ]);
      // The same uuid again answers with the message already sent, limit or not.
      expect((await send(t, card(), 'limit-0')).json).toMatchObject({ code: 0 });
      // Another chat has a limit of its own.
      const other = await call(
        'POST',
        '/open-apis/im/v1/messages?receive_id_type=chat_id',
        { receive_id: 'oc_2', msg_type: 'interactive', content: card() },
        t,
      );
      expect(other.json.code).toBe(0);
    } finally {
      await call('DELETE', '/_emulator/group-limit');
    }
    for (let i = 0; i < 6; i++) expect((await send(t)).json.code).toBe(0);
  });

  it('an outage (POST /_emulator/outage) fails every Open Platform call, tokens included, until DELETE /_emulator/outage', async () => {
    const t = await token();
    expect((await call('POST', '/_emulator/outage', { kind: 'http_503' })).json).toMatchObject({ ok: true });
    const refused = await fetch(`${running.url}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t}` },
      body: JSON.stringify({ receive_id: 'oc', msg_type: 'interactive', content: card() }),
    });
    expect(refused.status).toBe(503);
    const tokenCall = await fetch(`${running.url}/open-apis/auth/v3/tenant_access_token/internal`, {
      method: 'POST',
      body: JSON.stringify({ app_id: app.appId, app_secret: app.appSecret }),
    });
    expect(tokenCall.status).toBe(503);
    await call('DELETE', '/_emulator/outage');
    expect((await send(t)).json.code).toBe(0);

    emulator.outage('invalid_request', { includeTokens: false });
    expect((await send(await token())).json).toMatchObject({ code: 99992402 });
    emulator.endOutage();
    expect((await send(t)).json.code).toBe(0);
  });

  it('makes a random share of calls fail with an injected random', async () => {
    const t = await token();
    const sequence = [0.1, 0.0, 0.9];
    const rigged = createEmulator({ apps: [app], random: () => sequence.shift() ?? 0.99 });
    const server = await rigged.listen();
    try {
      rigged.randomFaults(0.3, ['http_500']);
      const t2 = (
        (await (
          await fetch(`${server.url}/open-apis/auth/v3/tenant_access_token/internal`, {
            method: 'POST',
            body: JSON.stringify({ app_id: app.appId, app_secret: app.appSecret }),
          })
        ).json()) as { tenant_access_token: string }
      ).tenant_access_token;
      const statuses = [];
      for (let i = 0; i < 2; i++) {
        statuses.push(
          (
            await fetch(`${server.url}/open-apis/hire/v1/eco_exams/e/update_result`, {
              method: 'POST',
              headers: { authorization: `Bearer ${t2}` },
              body: JSON.stringify({ result: '1' }),
            })
          ).status,
        );
      }
      expect(statuses).toEqual([500, 200]);
    } finally {
      await server.close();
    }
    expect(t).toBeTruthy();
  });
});

describe('pushes and clicks, as Feishu sends them', () => {
  async function receiver(answers: number[], answerBody = '{"toast":{"type":"success","content":"ok"}}') {
    const seen: Array<{ headers: Record<string, string | string[] | undefined>; body: Buffer }> = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        seen.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(answers.shift() ?? 200, { 'content-type': 'application/json' }).end(answerBody);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
      seen,
      close: () => server.close(),
    };
  }

  it('re-pushes an unacknowledged event with the same id and the same signature, until HTTP 200', async () => {
    const r = await receiver([500, 204]);
    try {
      const attempts = await emulator.pushExam(r.url, { exam_id: 'e-push' }, { eventId: 'ev-push-1' });
      expect(attempts.map((a) => a.status)).toEqual([500, 204, 200]);
      expect(new Set(r.seen.map((s) => s.headers['x-lark-signature'])).size).toBe(1);
      const parsed = r.seen.map((s) =>
        parse(
          { headers: s.headers, rawBody: s.body },
          { encryptKey: app.encryptKey, verificationToken: app.verificationToken },
        ),
      );
      expect(parsed.every((p) => p.ok && p.kind === 'event' && p.event.id === 'ev-push-1')).toBe(true);
    } finally {
      r.close();
    }
  });

  it('delivers a verifiable card.action.trigger for a click on a posted card', async () => {
    const t = await token();
    const messageId = (await send(t)).json.data.message_id as string;
    const r = await receiver([200]);
    try {
      const answer = await emulator.click({
        gatewayUrl: r.url,
        messageId,
        operatorOpenId: 'ou_staff',
        value: { action: 'approve', exam_id: 'e' },
        formValue: { reason: '' },
      });
      expect(answer.status).toBe(200);
      const [seen] = r.seen;
      const parsed = parse(
        { headers: seen!.headers, rawBody: seen!.body },
        { encryptKey: app.encryptKey, verificationToken: app.verificationToken },
      );
      expect(parsed).toMatchObject({
        ok: true,
        event: {
          type: 'card.action.trigger',
          payload: {
            operator: { open_id: 'ou_staff' },
            action: { value: { action: 'approve', exam_id: 'e' } },
            context: { open_message_id: messageId, open_chat_id: 'oc_1' },
          },
        },
      });
      expect(emulator.state.messages.get(messageId)?.toasts).toEqual([{ type: 'success', content: 'ok' }]);
    } finally {
      r.close();
    }
  });
});

describe("a card callback's answer, as the Feishu client reads it", () => {
  async function answering(body: unknown) {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
      close: () => server.close(),
    };
  }
  const v2 = JSON.parse(card()) as Record<string, unknown>;
  const cases: Array<{ name: string; body: unknown; status: number }> = [
    {
      name: 'a toast and a 2.0 card',
      body: { toast: { type: 'success', content: 'ok' }, card: { type: 'raw', data: v2 } },
      status: 200,
    },
    { name: 'nothing to change', body: {}, status: 200 },
    {
      name: 'a template card',
      body: { card: { type: 'template', data: { template_id: 'AAq' } } },
      status: 200,
    },
    { name: 'a toast of an unknown type', body: { toast: { type: 'danger', content: 'x' } }, status: 200672 },
    { name: 'a card of an unknown type', body: { card: { type: 'json', data: v2 } }, status: 200673 },
    {
      name: 'a broken 2.0 card',
      body: { card: { type: 'raw', data: { ...v2, i18n_elements: {} } } },
      status: 200673,
    },
    {
      name: 'a 1.0 card for a card sent as 2.0',
      body: { card: { type: 'raw', data: { elements: [{ tag: 'markdown', content: 'x' }] } } },
      status: 200830,
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async () => {
      const t = await token();
      const messageId = (await send(t)).json.data.message_id as string;
      const before = emulator.state.messages.get(messageId)?.content;
      const r = await answering(c.body);
      try {
        const answer = await emulator.click({
          gatewayUrl: r.url,
          messageId,
          operatorOpenId: 'ou_staff',
          value: { action: 'approve', exam_id: 'e' },
        });
        expect(answer.status).toBe(c.status);
        if (c.status !== 200) expect(emulator.state.messages.get(messageId)?.content).toBe(before);
      } finally {
        r.close();
      }
    });
  }
});

describe('control API', () => {
  it('pushes an exam or an account binding to a gateway on request, and refuses other kinds', async () => {
    const seen: string[] = [];
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const parsed = parse(
          { headers: req.headers, rawBody: Buffer.from(body) },
          { encryptKey: app.encryptKey, verificationToken: app.verificationToken },
        );
        seen.push(parsed.ok && parsed.kind === 'event' ? parsed.event.type : 'refused');
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const gatewayUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      expect(
        (await call('POST', '/_emulator/push/exam', { gateway_url: gatewayUrl, exam_id: 'c-1' })).json
          .attempts,
      ).toMatchObject([{ status: 200 }]);
      expect(
        (await call('POST', '/_emulator/push/account', { gateway_url: gatewayUrl, account_id: 'a-1' })).json
          .attempts,
      ).toMatchObject([{ status: 200 }]);
      expect((await call('POST', '/_emulator/push/nothing', { gateway_url: gatewayUrl })).status).toBe(404);
      expect(seen).toEqual(['hire.eco_exam.created_v1', 'hire.eco_account.created_v1']);
    } finally {
      server.close();
    }
  });
});

describe('a marketplace app that a customer stops or uninstalls', () => {
  const store = { appId: 'cli_store', appSecret: 'store-secret', type: 'marketplace' as const };
  const customer = 'tenant_customer';
  let market: Emulator;
  let server: RunningEmulator;
  const post = async (path: string, body: unknown, bearer?: string) => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: JSON.stringify(body),
    });
    return (await response.json()) as {
      code: number;
      tenant_access_token?: string;
      app_access_token?: string;
    };
  };
  const tenantToken = async () => {
    const { app_access_token } = await post('/open-apis/auth/v3/app_access_token', {
      app_id: store.appId,
      app_secret: store.appSecret,
      app_ticket: 'ticket-1',
    });
    return post('/open-apis/auth/v3/tenant_access_token', { app_access_token, tenant_key: customer });
  };
  const hireCall = async (bearer: string) =>
    (
      await post(
        '/open-apis/hire/v1/eco_exams/e-1/login_info',
        { result: 0, exam_login_info: { exam_url: 'https://x.example/e' } },
        bearer,
      )
    ).code;

  beforeAll(async () => {
    market = createEmulator({ apps: [{ ...store, tenants: [{ tenantKey: customer, name: 'Customer' }] }] });
    server = await market.listen();
    market.state.tickets.set('ticket-1', { appId: store.appId, expiresAt: Date.now() + 3_600_000 });
  });
  afterAll(() => server.close());

  it('refuses a stopped customer’s calls with 99991662 until it starts the app again; an uninstall ends its tokens', async () => {
    const issued = await tenantToken();
    expect(issued.code).toBe(0);
    const bearer = String(issued.tenant_access_token);
    expect(await hireCall(bearer)).toBe(0);

    market.setAppStatus(customer, 'stop_by_tenant', store.appId);
    expect(await hireCall(bearer)).toBe(FeishuCode.appStopped);
    market.setAppStatus(customer, 'start_by_tenant', store.appId);
    expect(await hireCall(bearer)).toBe(0);

    market.setAppStatus(customer, 'app_uninstalled', store.appId);
    expect(await hireCall(bearer)).toBe(FeishuCode.tokenInvalid);
    expect((await tenantToken()).code).toBe(FeishuCode.tenantKeyInvalid);
    // Installed again (app_open): tokens are issued again.
    market.setAppStatus(customer, 'app_open', store.appId);
    const again = await tenantToken();
    expect(again.code).toBe(0);
    expect(await hireCall(String(again.tenant_access_token))).toBe(0);
  });
});

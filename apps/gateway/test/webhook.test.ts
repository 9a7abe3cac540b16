import {
  encryptPayload,
  envelopeV1,
  envelopeV2,
  seal,
  signatureHeaders,
  urlVerificationBody,
} from '@feishu-exam/event-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountEntity, ExamEntity } from '../src/store/index.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import { baseEnv, post, rawExchange, secrets, startTestGateway, type TestGateway } from './support.js';

const seedExam = {
  exam_id: '7147998241542539527',
  account_id: '7147998241542539527',
  paper_id: 'paper001',
  candidate_info: { name: '王二', mobile: { code: '86', number: '18900001111' }, email: 'xxx@abc.vom' },
};
const fields = { token: secrets.verificationToken, appId: secrets.appId, tenantKey: '2ca1d211f64f6438' };
const sealOpts = { encryptKey: secrets.encryptKey };
/** {"schema":"2.0","header":{…,"token":"v"},…,"challenge":"1212","type":"url_verification"} under key "1212121212". */
const goSdkUrlVerification =
  'bZ3L7yh6m3Fkuffl4g+3uGjIHnhOm5fVZbKVuyT8t7tcd5ABMYm8l28/X900ZL3knZ7n+sCREu/H2WnIzft0amC7+xWqNH8o25IU63N4BnZWfHh+4hyG76QPd19vkw2bPJCx9aqxK8Nz+xqFNbk0RdgyWhmgd30jSxHtcQXAllkI7FMpGpOCteJad3bLXPDBQIV/xkCtKICCS7Z63gakpxZCLaRZ3qCXP1fapHh+LBIupxenrU6ysc7I3nHmjmKie41IiWwS5puG4zQHhVbq6KWLcgWm/3NBZOPQy53ucMu75SXA55I7jarVLZXWUcqBGrcgE3vouWbtwgZuzmoTQl0GSh5VYSVvpW992BuGxUWj0XjPYdICJm6Cr7xouNXwMcdb7N8caVdkdSZeEnswG19qSyDoQhklwzNGW0yiaayulBqJNjfge/G5V3401c2XaIuAeEIo+QQ4RSNpRGfnHkbu/j55FGQAGWjpuBNaIwZbaUoVP3NkGP+vM5rpEDe3sL2GN+Xsd+g9yBs7FqdMV8mXTGgLjCqjrPrke5/km76Q3Pe6KPs2YexMRG4MkSx3xUTzZnNn7zIzShPcjeSwBd2pxk6ht5N+fzueZdxl6Oo=';

let gw: TestGateway;
let eventUrl: string;
beforeAll(async () => {
  gw = await startTestGateway();
  eventUrl = `${gw.url}/webhook/event`;
});
afterAll(() => gw.close());

const examLogs = (examId: string) =>
  gw.logs().filter((l) => l.msg === 'exam received' && l.examId === examId);

describe('POST /webhook/event', () => {
  it('answers an encrypted url_verification with the challenge, without signature headers', async () => {
    const sealed = seal(urlVerificationBody('ch-123', secrets.verificationToken), sealOpts);
    expect(sealed.headers['x-lark-signature']).toBeUndefined();
    const res = await post(eventUrl, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ challenge: 'ch-123' });
    expect(res.contentType).toBe('application/json; charset=utf-8');
    expect(gw.logs().filter((l) => l.msg === 'url verification challenge answered')).toMatchObject([
      { level: 'info', path: '/webhook/event' },
    ]);
  });

  it("answers the Go SDK's encrypted schema 2.0 url_verification (token in header.token) with its challenge", async () => {
    // larksuite/oapi-sdk-go event/dispatcher/dispatcher_test.go: TestDecryptEvent's ciphertext, under
    // NewEventDispatcher("v", "1212121212"). Sent as Feishu sends a challenge: unsigned.
    const vector = await startTestGateway({
      FEISHU_ENCRYPT_KEY: '1212121212',
      FEISHU_VERIFICATION_TOKEN: 'v',
    });
    try {
      const rawBody = JSON.stringify({ encrypt: goSdkUrlVerification });
      const res = await post(`${vector.url}/webhook/event`, { 'content-type': 'application/json' }, rawBody);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ challenge: '1212' });
    } finally {
      await vector.close();
    }
  });

  it('refuses a challenge with the wrong verification token', async () => {
    const sealed = seal(urlVerificationBody('ch-1', 'not-the-token'), sealOpts);
    const res = await post(eventUrl, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(401);
    expect(res.json?.code).toBe('bad_token');
  });

  it('accepts the seed hire.eco_exam.created_v1 with HTTP 200 and a JSON body, and logs it masked', async () => {
    const sealed = seal(
      envelopeV2('hire.eco_exam.created_v1', seedExam, { ...fields, eventId: 'ev-seed-1' }),
      sealOpts,
    );
    const res = await post(eventUrl, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ code: 0, msg: 'success' });
    expect(res.contentType).toBe('application/json; charset=utf-8');
    const [line] = examLogs(seedExam.exam_id);
    expect(line).toMatchObject({ eventId: 'ev-seed-1', paperId: 'paper001', tenantKey: '2ca1d211f64f6438' });
    expect(line?.candidate).toEqual({ phone: '+86 189****1111', emailMasked: 'x***@abc.vom' });
  });

  it('accepts a body whose whitespace differs from JSON.stringify, signed over its raw bytes (the SDK refuses it)', async () => {
    const encrypt = encryptPayload(
      JSON.stringify(envelopeV2('hire.eco_exam.created_v1', { ...seedExam, exam_id: 'raw-1' }, fields)),
      secrets.encryptKey,
    );
    const rawBody = Buffer.from(`{ "encrypt" : "${encrypt}" }\n`);
    const res = await post(eventUrl, signatureHeaders(rawBody, secrets.encryptKey), rawBody);
    expect(res.status).toBe(200);
    expect(examLogs('raw-1')).toHaveLength(1);
  });

  it('acknowledges an unknown event type with 200', async () => {
    const sealed = seal(
      envelopeV2('im.message.receive_v1', { message: { message_id: 'om_1' } }, fields),
      sealOpts,
    );
    const res = await post(eventUrl, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(200);
    expect(gw.logs().some((l) => l.originalType === 'im.message.receive_v1')).toBe(true);
  });

  it('accepts a schema 1.0 event with its top-level token', async () => {
    const sealed = seal(
      envelopeV1('app_ticket', { app_ticket: 'ticket-1' }, { ...fields, tenantKey: undefined }),
      sealOpts,
    );
    const res = await post(eventUrl, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(200);
  });

  describe('refusals: each has its own code and status, and no handler runs', () => {
    const exam = (examId: string) =>
      envelopeV2('hire.eco_exam.created_v1', { ...seedExam, exam_id: examId }, fields);
    const cases: Array<{
      name: string;
      code: string;
      status: number;
      examId: string;
      request: () => { headers: Record<string, string>; rawBody: Buffer };
    }> = [
      {
        name: 'wrong verification token',
        code: 'bad_token',
        status: 401,
        examId: 'x-token',
        request: () =>
          seal({ ...exam('x-token'), header: { ...exam('x-token').header, token: 'forged' } }, sealOpts),
      },
      {
        name: 'wrong signature',
        code: 'bad_signature',
        status: 401,
        examId: 'x-sig',
        request: () => {
          const sealed = seal(exam('x-sig'), sealOpts);
          return { ...sealed, headers: { ...sealed.headers, 'x-lark-signature': 'ab'.repeat(32) } };
        },
      },
      {
        name: 'missing signature on an event',
        code: 'bad_signature',
        status: 401,
        examId: 'x-nosig',
        request: () => {
          const sealed = seal(exam('x-nosig'), sealOpts);
          return { headers: { 'content-type': 'application/json' }, rawBody: sealed.rawBody };
        },
      },
      {
        name: 'stale timestamp (a day old)',
        code: 'stale_timestamp',
        status: 401,
        examId: 'x-stale',
        request: () =>
          seal(exam('x-stale'), { ...sealOpts, timestamp: Math.floor(Date.now() / 1000) - 86_400 }),
      },
      {
        name: 'truncated ciphertext',
        code: 'decrypt_failed',
        status: 400,
        examId: 'x-trunc',
        request: () => {
          const encrypt = encryptPayload(JSON.stringify(exam('x-trunc')), secrets.encryptKey);
          const rawBody = Buffer.from(JSON.stringify({ encrypt: encrypt.slice(0, encrypt.length - 12) }));
          return { headers: signatureHeaders(rawBody, secrets.encryptKey), rawBody };
        },
      },
      {
        name: 'encrypted with the wrong key',
        code: 'decrypt_failed',
        status: 400,
        examId: 'x-key',
        request: () => {
          const rawBody = Buffer.from(
            JSON.stringify({ encrypt: encryptPayload(JSON.stringify(exam('x-key')), 'other-key') }),
          );
          return { headers: signatureHeaders(rawBody, secrets.encryptKey), rawBody };
        },
      },
      {
        name: 'not JSON',
        code: 'malformed_json',
        status: 400,
        examId: 'x-json',
        request: () => {
          const rawBody = Buffer.from('{"encrypt": x-json');
          return { headers: signatureHeaders(rawBody, secrets.encryptKey), rawBody };
        },
      },
      {
        name: 'JSON that is not an object',
        code: 'body_not_object',
        status: 400,
        examId: 'x-array',
        request: () => {
          const rawBody = Buffer.from('["x-array"]');
          return { headers: signatureHeaders(rawBody, secrets.encryptKey), rawBody };
        },
      },
      {
        name: 'a 2 MiB body',
        code: 'body_too_large',
        status: 413,
        examId: 'x-large',
        request: () => {
          const rawBody = Buffer.from(JSON.stringify({ encrypt: 'A'.repeat(2 * 1024 * 1024) }));
          return { headers: signatureHeaders(rawBody, secrets.encryptKey), rawBody };
        },
      },
    ];

    for (const c of cases) {
      it(`${c.name} → ${c.status} ${c.code}`, async () => {
        const { headers, rawBody } = c.request();
        const res = await post(eventUrl, headers, rawBody);
        expect(res.status).toBe(c.status);
        expect(res.json?.code).toBe(c.code);
        expect(typeof res.json?.message).toBe('string');
        expect(examLogs(c.examId)).toHaveLength(0);
      });
    }
  });

  it('answers 413 body_too_large, and closes, to a declared body far over the limit (it used to drop the connection)', async () => {
    // 100 MB announced, none sent: past the 8 × MAX_BODY_BYTES that is drained before giving up.
    const answer = await rawExchange(
      gw.url,
      'POST /webhook/event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n',
      'wait',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toMatch(/^connection: close\r$/im);
    expect(answer).toContain('"code":"body_too_large"');
  });

  it('acknowledges a verified push with a broken payload, records it as rejected with its reason, runs no handler', async () => {
    const env = envelopeV2(
      'hire.eco_exam.created_v1',
      { exam_id: 'x-schema', candidate_info: { mobile: { number: 1 } } },
      { ...fields, eventId: 'ev-broken' },
    );
    const sealed = seal(env, sealOpts);
    const res = await post(eventUrl, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(200);
    expect(res.json?.msg).toMatch(/schema_invalid at event\.candidate_info\.mobile\.number/);
    expect(res.json?.rejected).toMatchObject({
      code: 'schema_invalid',
      path: 'event.candidate_info.mobile.number',
    });
    expect(examLogs('x-schema')).toHaveLength(0);
    const admin = await fetch(`${gw.url}/admin/events?outcome=rejected`, {
      headers: { authorization: `Bearer ${baseEnv.ADMIN_TOKEN}` },
    });
    const { events } = (await admin.json()) as { events: Array<Record<string, unknown>> };
    expect(events).toContainEqual(
      expect.objectContaining({
        eventId: 'ev-broken',
        eventType: 'hire.eco_exam.created_v1',
        outcome: 'rejected',
        reason: expect.stringContaining('event.candidate_info.mobile.number'),
      }),
    );
  });

  it('GET /admin/events refuses an outcome it does not know with 400 (a typo listed nothing, as if none)', async () => {
    const admin = await fetch(`${gw.url}/admin/events?outcome=rejectd`, {
      headers: { authorization: `Bearer ${baseEnv.ADMIN_TOKEN}` },
    });
    expect(admin.status).toBe(400);
    expect(await admin.json()).toMatchObject({ code: 'bad_outcome' });
  });

  describe("ids are validated at the door (Feishu ids: 1 to 64 of [A-Za-z0-9_-]; paper ids: the platform's, 1 to 255 characters)", () => {
    const rejectedEvents = async () => {
      const admin = await fetch(`${gw.url}/admin/events?outcome=rejected`, {
        headers: { authorization: `Bearer ${baseEnv.ADMIN_TOKEN}` },
      });
      return ((await admin.json()) as { events: Array<Record<string, unknown>> }).events;
    };
    const examCount = (examId: string) => gw.store.dataSource.getRepository(ExamEntity).countBy({ examId });

    it('two 64-character ids sharing a 51-character prefix are two exams', async () => {
      const prefix = '7147998241542539527'.repeat(3).slice(0, 51);
      const ids = [`${prefix}${'0'.repeat(12)}1`, `${prefix}${'0'.repeat(12)}2`];
      for (const [i, examId] of ids.entries()) {
        expect(examId).toHaveLength(64);
        const sealed = seal(
          envelopeV2(
            'hire.eco_exam.created_v1',
            { ...seedExam, exam_id: examId },
            { ...fields, eventId: `ev-pair-${i}` },
          ),
          sealOpts,
        );
        const res = await post(eventUrl, sealed.headers, sealed.rawBody);
        expect(res.status).toBe(200);
        expect(res.json).toEqual({ code: 0, msg: 'success' });
      }
      expect(await examCount(ids[0] as string)).toBe(1);
      expect(await examCount(ids[1] as string)).toBe(1);
    });

    // A paper id is the exam platform's, published as it is (eco_exam_paper: 由调用方自定义, up to 255
    // characters) and sent back in the exams scheduled on it: held to the Feishu id pattern, these were
    // acknowledged and dropped as schema_invalid.
    it('an exam for a paper the platform named as it likes (dots, spaces, 255 characters) is an exam of that paper', async () => {
      const papers = ['aptitude.v2 (2024)', '编程 · 初级', 'p'.repeat(255)];
      for (const [i, paperId] of papers.entries()) {
        const examId = `71479982415425397${10 + i}`;
        const sealed = seal(
          envelopeV2(
            'hire.eco_exam.created_v1',
            { ...seedExam, exam_id: examId, paper_id: paperId },
            { ...fields, eventId: `ev-paper-${i}` },
          ),
          sealOpts,
        );
        const res = await post(eventUrl, sealed.headers, sealed.rawBody);
        expect(res.json).toEqual({ code: 0, msg: 'success' });
        const exam = await gw.store.dataSource.getRepository(ExamEntity).findOneBy({ examId });
        expect(exam?.paperId).toBe(paperId);
      }
    });

    const badIds: Array<{ name: string; field: 'exam_id' | 'account_id' | 'paper_id'; id: string }> = [
      { name: 'an exam_id of 65 characters', field: 'exam_id', id: '7'.repeat(65) },
      { name: 'an exam_id with a slash', field: 'exam_id', id: '7147998241542539527/x' },
      { name: 'an exam_id with a question mark', field: 'exam_id', id: '7147998241542539527?x=1' },
      { name: 'an exam_id with a hash', field: 'exam_id', id: '7147998241542539527#x' },
      { name: 'an exam_id of ..', field: 'exam_id', id: '..' },
      { name: 'an exam_id of 500 KB', field: 'exam_id', id: '7'.repeat(500 * 1024) },
      { name: 'an account_id with a slash', field: 'account_id', id: '../acct-bj-1' },
      { name: 'a paper_id of 256 characters', field: 'paper_id', id: 'p'.repeat(256) },
      { name: 'a paper_id with a newline', field: 'paper_id', id: 'paper\n002' },
    ];
    for (const [i, c] of badIds.entries()) {
      it(`${c.name}: acknowledged with 200, recorded as rejected, no exam`, async () => {
        const examId = c.field === 'exam_id' ? c.id : `valid-exam-${i}`;
        const eventId = `ev-bad-id-${i}`;
        const sealed = seal(
          envelopeV2(
            'hire.eco_exam.created_v1',
            { ...seedExam, [c.field]: c.id, exam_id: examId },
            { ...fields, eventId },
          ),
          sealOpts,
        );
        const res = await post(eventUrl, sealed.headers, sealed.rawBody);
        expect(res.status).toBe(200);
        expect(res.json).toMatchObject({
          code: 0,
          rejected: { code: 'schema_invalid', path: `event.${c.field}` },
        });
        expect(res.text).not.toContain(c.id);
        expect(await examCount(examId)).toBe(0);
        expect(examLogs(examId)).toHaveLength(0);
        const recorded = (await rejectedEvents()).find((e) => e.eventId === eventId);
        expect(recorded).toMatchObject({
          eventType: 'hire.eco_exam.created_v1',
          outcome: 'rejected',
          examId: null,
          reason: expect.stringContaining(`event.${c.field}`),
        });
        expect(String(recorded?.reason)).not.toContain(c.id);
      });
    }

    it('an account binding with a 65-character account_id: acknowledged, recorded as rejected, no account', async () => {
      const accountId = 'a'.repeat(65);
      const sealed = seal(
        envelopeV2(
          'hire.eco_account.created_v1',
          { scope: 2, account_id: accountId, account_name: 'BJ' },
          { ...fields, eventId: 'ev-bad-account' },
        ),
        sealOpts,
      );
      const res = await post(eventUrl, sealed.headers, sealed.rawBody);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ rejected: { code: 'schema_invalid', path: 'event.account_id' } });
      expect(await gw.store.dataSource.getRepository(AccountEntity).countBy({ accountId })).toBe(0);
      expect((await rejectedEvents()).map((e) => e.eventId)).toContain('ev-bad-account');
    });
  });

  it('never writes a secret, a token or a candidate phone or email to the log', () => {
    const everything = gw.logLines.join('\n');
    expect(gw.logLines.length).toBeGreaterThan(10);
    for (const secret of [
      secrets.appSecret,
      secrets.encryptKey,
      secrets.verificationToken,
      '18900001111',
      'xxx@abc.vom',
    ]) {
      expect(everything).not.toContain(secret);
    }
  });
});

describe('routes around the webhook', () => {
  it('card callbacks are verified like events', async () => {
    const sealed = seal(
      envelopeV2(
        'card.action.trigger',
        { operator: { open_id: 'ou_1' }, action: { value: {} } },
        { ...fields, token: 'forged' },
      ),
      sealOpts,
    );
    const res = await post(`${gw.url}/webhook/card`, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(401);
    expect(res.json?.code).toBe('bad_token');
  });

  it('a verified card callback that is not one of our buttons gets HTTP 200 and an error toast', async () => {
    const event = {
      operator: { open_id: 'ou_1' },
      token: 'c-update-token',
      action: { value: { exam: '1' }, tag: 'button' },
    };
    const sealed = seal(envelopeV2('card.action.trigger', event, fields), sealOpts);
    const res = await post(`${gw.url}/webhook/card`, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      toast: {
        type: 'error',
        content: expect.stringMatching(/不是本应用/),
        i18n: { zh_cn: expect.stringMatching(/不是本应用/), en_us: expect.stringMatching(/not one of ours/) },
      },
    });
  });

  it("a click is answered with the exam's card as posted: the account and platform stay on it", async () => {
    const examId = '7147998241542539600';
    const accountId = '7147998241542539601';
    const push = async (type: string, event: Record<string, unknown>, eventId: string) => {
      const sealed = seal(envelopeV2(type, event, { ...fields, eventId }), sealOpts);
      expect((await post(eventUrl, sealed.headers, sealed.rawBody)).status).toBe(200);
    };
    await push(
      'hire.eco_account.created_v1',
      { scope: 2, account_id: accountId, account_name: 'BJ campus' },
      'ev-card-facts-account',
    );
    await push(
      'hire.eco_exam.created_v1',
      { ...seedExam, exam_id: examId, account_id: accountId },
      'ev-card-facts-exam',
    );
    await gw.store.write((tx) =>
      examLifecycle.cardPosted(tx, { tenantKey: fields.tenantKey, examId }, 'om_card_facts', 1),
    );
    const click = seal(
      envelopeV2(
        'card.action.trigger',
        {
          operator: { open_id: 'ou_staff', tenant_key: fields.tenantKey },
          action: {
            value: { action: 'approve', exam_id: examId },
            tag: 'button',
            form_value: { reason: '' },
          },
          context: { open_message_id: 'om_card_facts' },
        },
        { ...fields, eventId: 'ev-card-facts-click' },
      ),
      sealOpts,
    );
    const res = await post(`${gw.url}/webhook/card`, click.headers, click.rawBody);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ toast: { type: 'success' }, card: { type: 'raw' } });
    const exam = await gw.store.findOneBy(ExamEntity, { tenantKey: fields.tenantKey, examId });
    const account = await gw.store.findOneBy(AccountEntity, { tenantKey: fields.tenantKey, accountId });
    // The card the outbox draws for this exam now (what a patch would show), and the card in the answer.
    const drawn = JSON.stringify(res.json?.card);
    expect(drawn).toContain('**Account**: BJ campus');
    expect(drawn).toContain(`**Exam platform**: ${account?.providerId}`);
    expect(exam?.state).toBe('arranging');
  });

  it('a verified card callback that cannot be read gets HTTP 200 and an error toast in both languages', async () => {
    const event = { operator: { user_id: 'u_1' }, action: { value: {}, tag: 'button' } };
    const sealed = seal(
      envelopeV2('card.action.trigger', event, { ...fields, eventId: 'ev-unreadable-click' }),
      sealOpts,
    );
    const res = await post(`${gw.url}/webhook/card`, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      toast: {
        type: 'error',
        content: expect.stringMatching(/无法读取/),
        i18n: {
          zh_cn: expect.stringMatching(/无法读取/),
          en_us: expect.stringMatching(/could not read this click/),
        },
      },
    });
  });

  it('a Reject without a reason on a card decided meanwhile is answered with the decision and the card as it is', async () => {
    const examId = '7147998241542539610';
    const exam = seal(
      envelopeV2(
        'hire.eco_exam.created_v1',
        { ...seedExam, exam_id: examId },
        { ...fields, eventId: 'ev-decided-exam' },
      ),
      sealOpts,
    );
    expect((await post(eventUrl, exam.headers, exam.rawBody)).status).toBe(200);
    await gw.store.write((tx) =>
      examLifecycle.cardPosted(tx, { tenantKey: fields.tenantKey, examId }, 'om_decided', 1),
    );
    const click = async (operator: string, action: 'approve' | 'reject', eventId: string) => {
      const sealed = seal(
        envelopeV2(
          'card.action.trigger',
          {
            operator: { open_id: operator, tenant_key: fields.tenantKey },
            action: { value: { action, exam_id: examId }, tag: 'button', form_value: { reason: '' } },
            context: { open_message_id: 'om_decided' },
          },
          { ...fields, eventId },
        ),
        sealOpts,
      );
      return post(`${gw.url}/webhook/card`, sealed.headers, sealed.rawBody);
    };
    expect((await click('ou_first', 'approve', 'ev-decided-approve')).json).toMatchObject({
      toast: { type: 'success' },
    });
    const late = await click('ou_second', 'reject', 'ev-decided-reject');
    expect(late.status).toBe(200);
    expect(late.json).toMatchObject({
      toast: { type: 'info', i18n: { en_us: expect.stringMatching(/^Already approved by ou_first/) } },
      card: { type: 'raw', data: { schema: '2.0' } },
    });
    expect(JSON.stringify(late.json?.card)).toContain('<at id=ou_first></at>');
  });

  it('GET /healthz and /readyz answer 200 while running', async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gw.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      database: 'ok',
      jobs: { dead: 0, retrying: expect.any(Number), overdue: 0 },
    });
  });

  it('an unknown route is a JSON 404, a GET on the webhook is a JSON 405 that says method_not_allowed', async () => {
    const missing = await fetch(`${gw.url}/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe('not_found');
    const wrongMethod = await fetch(eventUrl);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(((await wrongMethod.json()) as { code: string }).code).toBe('method_not_allowed');
  });

  it('takes a push at the webhook path with a query string, a trailing slash or other letter case', async () => {
    // The exact paths (a query string aside) are served by the push listener without Koa (app.ts,
    // requestListener); the router still takes the variants it always took, so a URL entered in the developer
    // console that way keeps working.
    for (const [i, url] of [
      `${eventUrl}?from=console`,
      `${eventUrl}/`,
      `${gw.url}/Webhook/Event`,
    ].entries()) {
      const examId = `path-variant-${i}`;
      const sealed = seal(
        envelopeV2('hire.eco_exam.created_v1', { ...seedExam, exam_id: examId }, fields),
        sealOpts,
      );
      const res = await post(url, sealed.headers, sealed.rawBody);
      expect(res.status, url).toBe(200);
      expect(res.json).toEqual({ code: 0, msg: 'success' });
      expect(examLogs(examId), url).toMatchObject([{ outcome: 'created' }]);
    }
  });
});

describe('without an encrypt key', () => {
  it('accepts plain events carrying the verification token, and refuses others', async () => {
    const plain = await startTestGateway({ FEISHU_ENCRYPT_KEY: '' });
    try {
      const ok = seal(envelopeV2('hire.eco_exam.created_v1', { ...seedExam, exam_id: 'plain-1' }, fields));
      expect((await post(`${plain.url}/webhook/event`, ok.headers, ok.rawBody)).status).toBe(200);
      const bad = seal(envelopeV2('hire.eco_exam.created_v1', seedExam, { ...fields, token: 'nope' }));
      const res = await post(`${plain.url}/webhook/event`, bad.headers, bad.rawBody);
      expect(res.status).toBe(401);
      expect(res.json?.code).toBe('bad_token');
      const encrypted = seal(envelopeV2('hire.eco_exam.created_v1', seedExam, fields), sealOpts);
      const res2 = await post(`${plain.url}/webhook/event`, encrypted.headers, encrypted.rawBody);
      expect(res2.status).toBe(500);
      expect(res2.json?.code).toBe('encrypt_key_not_configured');
    } finally {
      await plain.close();
    }
  });

  it('the bot removed from the staff chat, or the chat disbanded: an error in the log naming APPROVAL_CHAT_ID; other chats: nothing', async () => {
    const push = async (type: string, chatId: string, eventId: string) => {
      const sealed = seal(
        envelopeV2(type, { chat_id: chatId, operator_id: { open_id: 'ou_owner' } }, { ...fields, eventId }),
        sealOpts,
      );
      expect((await post(eventUrl, sealed.headers, sealed.rawBody)).status).toBe(200);
    };
    const errors = () =>
      gw.logs().filter((l) => l.level === 'error' && String(l.msg).includes('APPROVAL_CHAT_ID'));
    await push('im.chat.member.bot.deleted_v1', 'oc_another_chat', 'ev-bot-out-elsewhere');
    await push('im.chat.disbanded_v1', 'oc_another_chat', 'ev-chat-gone-elsewhere');
    expect(errors()).toEqual([]);
    await push('im.chat.member.bot.deleted_v1', baseEnv.APPROVAL_CHAT_ID, 'ev-bot-out');
    await push('im.chat.disbanded_v1', baseEnv.APPROVAL_CHAT_ID, 'ev-chat-gone');
    expect(errors().map((l) => l.msg)).toEqual([
      expect.stringContaining('removed from the approval chat'),
      expect.stringContaining('was disbanded'),
    ]);
  });
});

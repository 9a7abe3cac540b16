// Outside-in: requests exactly as Feishu's servers send them (per Feishu's documentation and the official
// SDKs), against the running gateway over HTTP.
import { createHash } from 'node:crypto';
import { envelopeV2, seal, urlVerificationBody } from '@feishu-exam/event-core';
import * as lark from '@larksuiteoapi/node-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExamEntity, JobEntity } from '../src/store/index.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import {
  holdWriteLock,
  post,
  secrets,
  startTestGateway,
  type TestGateway,
  tempDatabaseUrl,
} from './support.js';

const tenantKey = '2ca1d211f64f6438';
const fields = { token: secrets.verificationToken, appId: secrets.appId, tenantKey };
const sealOpts = { encryptKey: secrets.encryptKey };

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

async function pushExam(examId: string) {
  const sealed = seal(
    envelopeV2('hire.eco_exam.created_v1', { exam_id: examId, paper_id: 'paper001' }, fields),
    sealOpts,
  );
  expect((await post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
}

/**
 * The old-style card callback (消息卡片回传交互（旧）, card.action.trigger_v1): a plain JSON body with no
 * envelope, signed X-Lark-Signature = hex(SHA-1(timestamp + nonce + verification token + raw body)) (the Go
 * SDK's larkcard.Signature; the node SDK's checkIsCardEventValidated). Its `token` is the card update token.
 */
function oldCardCallback(body: object, options: { token?: string; timestamp?: number } = {}) {
  const rawBody = JSON.stringify(body);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = 'nonce-old-card';
  const signature = createHash('sha1')
    .update(timestamp + nonce + (options.token ?? secrets.verificationToken) + rawBody)
    .digest('hex');
  return {
    headers: {
      'content-type': 'application/json',
      'x-lark-request-timestamp': timestamp,
      'x-lark-request-nonce': nonce,
      'x-lark-signature': signature,
    },
    rawBody,
  };
}

const oldClick = (examId: string, messageId: string, action = 'approve') => ({
  open_id: 'ou_staff_1',
  user_id: 'u_staff_1',
  open_message_id: messageId,
  open_chat_id: 'oc_staff_chat_0001',
  tenant_key: tenantKey,
  token: 'c-old-card-update-token',
  action: { value: { action, exam_id: examId }, tag: 'button' },
});

describe('old-style card callbacks (no envelope, SHA-1 signed with the verification token)', () => {
  it("the fixture is what the node SDK's CardActionHandler accepts (its own SHA-1 check)", async () => {
    const { headers, rawBody } = oldCardCallback(oldClick('e', 'om_e'));
    const seen: unknown[] = [];
    const handler = new lark.CardActionHandler(
      { verificationToken: secrets.verificationToken, loggerLevel: lark.LoggerLevel.error },
      async (data: unknown) => {
        seen.push(data);
        return {};
      },
    );
    await handler.invoke(Object.assign(Object.create({ headers }), JSON.parse(rawBody)));
    expect(seen).toMatchObject([{ open_id: 'ou_staff_1', open_message_id: 'om_e' }]);
    const forged = oldCardCallback(oldClick('e', 'om_e'), { token: 'forged' });
    await handler.invoke(
      Object.assign(Object.create({ headers: forged.headers }), JSON.parse(forged.rawBody)),
    );
    expect(seen).toHaveLength(1);
  });

  it('its url_verification on /webhook/card is answered with the challenge', async () => {
    const res = await post(
      `${gw.url}/webhook/card`,
      { 'content-type': 'application/json' },
      JSON.stringify(urlVerificationBody('old-card-challenge', secrets.verificationToken)),
    );
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ challenge: 'old-card-challenge' });
  });

  // Its answer (响应回调的结构体 of 消息卡片回传交互（旧）) is a toast and the card's 1.0 JSON at the top level,
  // without the new callback's `card: { type: 'raw' }`; the gateway's cards are JSON 2.0, so the answer is the
  // toast alone and the outbox patches the card (refresh_card).
  const refreshJobs = (examId: string) =>
    gw.store.dataSource
      .getRepository(JobEntity)
      .findBy({ kind: 'refresh_card', examId })
      .then((jobs) => jobs.map((j) => j.idempotencyKey));

  it('an Approve click is taken like card.action.trigger: HTTP 200, a success toast alone, the exam moves on, its card is patched by the outbox', async () => {
    await pushExam('7147998241542539001');
    await gw.store.write((tx) =>
      examLifecycle.cardPosted(tx, { tenantKey, examId: '7147998241542539001' }, 'om_old_card_1', Date.now()),
    );
    const { headers, rawBody } = oldCardCallback(oldClick('7147998241542539001', 'om_old_card_1'));
    const res = await post(`${gw.url}/webhook/card`, headers, rawBody);
    expect(res.status).toBe(200);
    expect(Object.keys(res.json ?? {})).toEqual(['toast']);
    expect(res.json).toMatchObject({ toast: { type: 'success' } });
    const exam = await gw.store.dataSource
      .getRepository(ExamEntity)
      .findOneByOrFail({ examId: '7147998241542539001' });
    expect(exam).toMatchObject({ state: 'arranging', decidedBy: 'ou_staff_1' });
    expect(await refreshJobs('7147998241542539001')).toEqual([
      `refresh_card:${tenantKey}:7147998241542539001:decided`,
    ]);

    // A second click on the card (it still shows its buttons until the patch): the toast alone again.
    const again = oldCardCallback(oldClick('7147998241542539001', 'om_old_card_1', 'reject'));
    const second = await post(`${gw.url}/webhook/card`, again.headers, again.rawBody);
    expect(Object.keys(second.json ?? {})).toEqual(['toast']);
    expect(second.json).toMatchObject({ toast: { type: 'info' } });
  });

  it('the new callback (card.action.trigger) is still answered with the card, and queues no patch of its own', async () => {
    await pushExam('7147998241542539013');
    await gw.store.write((tx) =>
      examLifecycle.cardPosted(
        tx,
        { tenantKey, examId: '7147998241542539013' },
        'om_new_card_13',
        Date.now(),
      ),
    );
    const click = seal(
      envelopeV2(
        'card.action.trigger',
        {
          operator: { open_id: 'ou_staff_1', tenant_key: tenantKey },
          action: { value: { action: 'approve', exam_id: '7147998241542539013' }, tag: 'button' },
          context: { open_message_id: 'om_new_card_13' },
        },
        { ...fields, eventId: 'ev-new-card-13' },
      ),
      sealOpts,
    );
    const res = await post(`${gw.url}/webhook/card`, click.headers, click.rawBody);
    expect(res.json).toMatchObject({ toast: { type: 'success' }, card: { type: 'raw' } });
    expect(await refreshJobs('7147998241542539013')).toEqual([]);
  });

  it('a click that is not one of our buttons still gets HTTP 200 (anything else shows the user error 200671)', async () => {
    const { headers, rawBody } = oldCardCallback({
      ...oldClick('x', 'om_x'),
      action: { value: { k: 'v' }, tag: 'button' },
    });
    const res = await post(`${gw.url}/webhook/card`, headers, rawBody);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ toast: { type: 'error' } });
  });

  it('is refused when signed with another token, or unsigned, and decides nothing', async () => {
    await pushExam('7147998241542539002');
    await gw.store.write((tx) =>
      examLifecycle.cardPosted(tx, { tenantKey, examId: '7147998241542539002' }, 'om_old_card_2', Date.now()),
    );
    const forged = oldCardCallback(oldClick('7147998241542539002', 'om_old_card_2'), { token: 'forged' });
    const res = await post(`${gw.url}/webhook/card`, forged.headers, forged.rawBody);
    expect(res.status).toBe(401);
    expect(res.json?.code).toBe('bad_signature');
    const unsigned = await post(
      `${gw.url}/webhook/card`,
      { 'content-type': 'application/json' },
      forged.rawBody,
    );
    expect(unsigned.status).toBe(401);
    expect(unsigned.json?.code).toBe('bad_signature');
    const stale = oldCardCallback(oldClick('7147998241542539002', 'om_old_card_2'), {
      timestamp: Math.floor(Date.now() / 1000) - 86_400,
    });
    expect((await post(`${gw.url}/webhook/card`, stale.headers, stale.rawBody)).json?.code).toBe(
      'stale_timestamp',
    );
    const exam = await gw.store.dataSource
      .getRepository(ExamEntity)
      .findOneByOrFail({ examId: '7147998241542539002' });
    expect(exam.state).toBe('pending_approval');
  });

  it('a SHA-1 signature authenticates only an old-style card body, never an event', async () => {
    const event = envelopeV2('hire.eco_exam.created_v1', { exam_id: '7147998241542539003' }, fields);
    const { headers, rawBody } = oldCardCallback(event);
    const res = await post(`${gw.url}/webhook/event`, headers, rawBody);
    expect(res.status).toBe(401);
    expect(
      await gw.store.dataSource.getRepository(ExamEntity).countBy({ examId: '7147998241542539003' }),
    ).toBe(0);
  });

  // The SDKs take such a click unchecked when no verification token is configured; the gateway refuses it (an
  // unsigned click could decide any exam), and says which setting is missing, not the encrypt key.
  it('with the encrypt key only, an old-style click is refused, and the answer names FEISHU_VERIFICATION_TOKEN', async () => {
    const keyOnly = await startTestGateway({ FEISHU_VERIFICATION_TOKEN: '' });
    try {
      const { headers, rawBody } = oldCardCallback(oldClick('x', 'om_x'));
      const res = await post(`${keyOnly.url}/webhook/card`, headers, rawBody);
      expect(res.status).toBe(401);
      expect(res.json).toMatchObject({
        code: 'bad_signature',
        message: expect.stringContaining('set FEISHU_VERIFICATION_TOKEN'),
      });
      // A body signed with some other key is still a plain mismatch of the encrypt key.
      const sealed = seal(envelopeV2('hire.eco_exam.created_v1', { exam_id: 'e-x' }, fields), {
        encryptKey: 'another-key',
      });
      const wrongKey = await post(`${keyOnly.url}/webhook/event`, sealed.headers, sealed.rawBody);
      expect(wrongKey.status).toBe(401);
      expect(wrongKey.json?.message).toContain('check FEISHU_ENCRYPT_KEY');
    } finally {
      await keyOnly.close();
    }
  });

  it('without an encrypt key (verification token only), an old-style click is taken too', async () => {
    const plain = await startTestGateway({ FEISHU_ENCRYPT_KEY: '' });
    try {
      const { headers, rawBody } = oldCardCallback({
        ...oldClick('x', 'om_x'),
        action: { value: { k: 'v' }, tag: 'button' },
      });
      const res = await post(`${plain.url}/webhook/card`, headers, rawBody);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ toast: { type: 'error' } });
      const forged = oldCardCallback(oldClick('x', 'om_x'), { token: 'forged' });
      expect((await post(`${plain.url}/webhook/card`, forged.headers, forged.rawBody)).status).toBe(401);
    } finally {
      await plain.close();
    }
  });
});

// 处理卡片回调: 需要在 3 秒内以 HTTP 200 状态码响应该请求; later, the user sees 200341 and the answer is dropped.
describe("a card click is answered within Feishu's 3 s, even when the decision cannot be recorded as fast", () => {
  it('past CARD_ANSWER_BUDGET_MS (the database locked by another process): a toast that it is still being recorded; the decision then lands', async () => {
    const databaseUrl = tempDatabaseUrl();
    const slow = await startTestGateway({
      DATABASE_URL: databaseUrl,
      OUTBOX_WORKER: 'off',
      RETENTION_DAYS: '0',
      JOB_HISTORY_DAYS: '0',
    });
    try {
      const examId = '7147998241542539021';
      const sealedExam = seal(
        envelopeV2('hire.eco_exam.created_v1', { exam_id: examId, paper_id: 'paper001' }, fields),
        sealOpts,
      );
      expect((await post(`${slow.url}/webhook/event`, sealedExam.headers, sealedExam.rawBody)).status).toBe(
        200,
      );
      await slow.store.write((tx) =>
        examLifecycle.cardPosted(tx, { tenantKey, examId }, 'om_slow_card', Date.now()),
      );
      const release = await holdWriteLock(databaseUrl.slice('sqlite:'.length));
      let released = false;
      try {
        const click = seal(
          envelopeV2(
            'card.action.trigger',
            {
              operator: { open_id: 'ou_staff_1', tenant_key: tenantKey },
              action: { value: { action: 'approve', exam_id: examId }, tag: 'button' },
              context: { open_message_id: 'om_slow_card' },
            },
            { ...fields, eventId: 'ev-slow-click' },
          ),
          sealOpts,
        );
        const res = await post(`${slow.url}/webhook/card`, click.headers, click.rawBody);
        expect(res.status).toBe(200);
        expect(res.json).toEqual({
          toast: {
            type: 'info',
            content: expect.stringContaining('卡片稍后更新'),
            i18n: expect.objectContaining({ en_us: expect.stringContaining('Still recording') }),
          },
        });
        await release();
        released = true;
        for (let i = 0; i < 200; i++) {
          const exam = await slow.store.findOneBy(ExamEntity, { tenantKey, examId });
          if (exam?.state === 'arranging') break;
          await new Promise((r) => setTimeout(r, 25));
        }
        expect(await slow.store.findOneBy(ExamEntity, { tenantKey, examId })).toMatchObject({
          state: 'arranging',
          decidedBy: 'ou_staff_1',
        });
      } finally {
        if (!released) await release();
      }
    } finally {
      await slow.close();
    }
  });
});

describe('hire.eco_exam.created_v1 as the SDK types declare it (every field an optional string)', () => {
  it('an empty talent_id, application_id, account_id or paper_id means "none": the exam is taken, not rejected', async () => {
    const sealed = seal(
      envelopeV2(
        'hire.eco_exam.created_v1',
        {
          exam_id: '7147998241542539101',
          account_id: '',
          paper_id: '',
          candidate_info: {
            name: '王二',
            mobile: { code: '86', number: '18900001111' },
            email: 'xxx@abc.vom',
          },
          talent_id: '',
          application_id: '',
        },
        { ...fields, eventId: 'ev-empty-ids' },
      ),
      sealOpts,
    );
    const res = await post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ code: 0, msg: 'success' });
    const exam = await gw.store.dataSource
      .getRepository(ExamEntity)
      .findOneByOrFail({ examId: '7147998241542539101' });
    expect(exam).toMatchObject({ accountId: null, paperId: null, talentId: null, applicationId: null });
  });
});

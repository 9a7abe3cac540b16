import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventDispatcher, envelopeV2, seal } from '@feishu-exam/event-core';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type AppDeps, createApp, requestListener } from '../src/http/app.js';
import type { EventContext, WebhookReply } from '../src/http/webhook.js';
import { openStore } from '../src/store/index.js';
import { post, secrets, tempDatabaseUrl, testStoreOptions } from './support.js';

/**
 * A gateway whose handlers fail, to see what Feishu is told; served as the gateway serves (the push listener
 * before Koa: app.ts, requestListener).
 */
async function failingGateway() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const store = await openStore(tempDatabaseUrl(), log, testStoreOptions);
  const dispatcher = new EventDispatcher<EventContext, WebhookReply>()
    .on('hire.eco_exam.created_v1', () => {
      throw new Error('database unavailable');
    })
    .on('card.action.trigger', () => {
      throw new Error('database unavailable');
    })
    // A reply that cannot be written as JSON.
    .on('hire.eco_account.created_v1', () => ({ count: 10n }));
  const deps: AppDeps = {
    log,
    isReady: () => true,
    readiness: async () => ({ database: 'ok' }),
    maxBodyBytes: 1024 * 1024,
    dispatcher,
    recordRejectedEvent: async () => {
      throw new Error('disk I/O error');
    },
    secrets: { encryptKey: secrets.encryptKey, verificationToken: secrets.verificationToken },
    admin: { store, adminToken: undefined, now: Date.now, onRetry: () => undefined },
  };
  const server = createServer(requestListener(createApp(deps), deps)).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    lines,
    close: async () => {
      server.close();
      await store.close();
    },
  };
}

describe('acknowledgement', () => {
  it('an event whose handler failed is not acknowledged (Feishu pushes it again); a card click still gets 200 and a toast', async () => {
    const gw = await failingGateway();
    try {
      const fields = { token: secrets.verificationToken };
      const exam = seal(envelopeV2('hire.eco_exam.created_v1', { exam_id: 'a-1' }, fields), {
        encryptKey: secrets.encryptKey,
      });
      const examAnswer = await post(`${gw.url}/webhook/event`, exam.headers, exam.rawBody);
      expect(examAnswer.status).toBe(500);
      expect(examAnswer.json?.code).toBe('handler_failed');
      const click = seal(
        envelopeV2('card.action.trigger', { operator: { open_id: 'ou_1' }, action: { value: {} } }, fields),
        { encryptKey: secrets.encryptKey },
      );
      const clickAnswer = await post(`${gw.url}/webhook/card`, click.headers, click.rawBody);
      expect(clickAnswer.status).toBe(200);
      expect(clickAnswer.json).toEqual({
        toast: {
          type: 'error',
          content: expect.stringMatching(/未能记录/),
          i18n: {
            zh_cn: expect.stringMatching(/未能记录/),
            en_us: expect.stringMatching(/could not record/),
          },
        },
      });
    } finally {
      await gw.close();
    }
  });

  it('an unexpected error is a JSON 500 that Feishu retries, logged once, at the exact path and through Koa alike', async () => {
    const gw = await failingGateway();
    try {
      // Verified but broken (an exam without its exam_id): kept as rejected, which fails here.
      const broken = seal(envelopeV2('hire.eco_exam.created_v1', {}, { token: secrets.verificationToken }), {
        encryptKey: secrets.encryptKey,
      });
      for (const path of ['/webhook/event', '/webhook/event/']) {
        const answer = await post(`${gw.url}${path}`, broken.headers, broken.rawBody);
        expect(answer.status, path).toBe(500);
        expect(answer.contentType).toBe('application/json; charset=utf-8');
        expect(answer.json).toEqual({
          code: 'internal_error',
          message: 'internal error; see the gateway log',
        });
      }
      expect(gw.lines.filter((l) => l.msg === 'unhandled error in request')).toMatchObject([
        { level: 50, path: '/webhook/event', err: { message: 'disk I/O error' } },
        { level: 50, path: '/webhook/event/', err: { message: 'disk I/O error' } },
      ]);
      // A reply that cannot be written is the same 500, not a crash (the listener's promise has no caller).
      const account = seal(
        envelopeV2(
          'hire.eco_account.created_v1',
          { account_id: 'ac-1' },
          { token: secrets.verificationToken },
        ),
        { encryptKey: secrets.encryptKey },
      );
      const unwritable = await post(`${gw.url}/webhook/event`, account.headers, account.rawBody);
      expect(unwritable.status).toBe(500);
      expect(unwritable.json?.code).toBe('internal_error');
      expect(gw.lines.filter((l) => l.msg === 'unhandled error in request')).toHaveLength(3);
      // And the access line of each refusal, with its code.
      expect(gw.lines.filter((l) => l.msg === 'request')).toMatchObject([
        { status: 500, path: '/webhook/event', code: 'internal_error' },
        { status: 500, path: '/webhook/event/', code: 'internal_error' },
        { status: 500, path: '/webhook/event', code: 'internal_error' },
      ]);
    } finally {
      await gw.close();
    }
  });
});

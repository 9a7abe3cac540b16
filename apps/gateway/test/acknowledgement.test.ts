import type { AddressInfo } from 'node:net';
import { EventDispatcher, envelopeV2, seal } from '@feishu-exam/event-core';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app.js';
import type { EventContext, WebhookReply } from '../src/http/webhook.js';
import { openStore } from '../src/store/index.js';
import { post, secrets, tempDatabaseUrl, testStoreOptions } from './support.js';

/** A gateway whose handlers fail, to see what Feishu is told. */
async function failingGateway() {
  const log = pino({ level: 'silent' });
  const store = await openStore(tempDatabaseUrl(), log, testStoreOptions);
  const dispatcher = new EventDispatcher<EventContext, WebhookReply>()
    .on('hire.eco_exam.created_v1', () => {
      throw new Error('database unavailable');
    })
    .on('card.action.trigger', () => {
      throw new Error('database unavailable');
    });
  const app = createApp({
    log,
    isReady: () => true,
    readiness: async () => ({ database: 'ok' }),
    maxBodyBytes: 1024 * 1024,
    dispatcher,
    recordRejectedEvent: async () => undefined,
    secrets: { encryptKey: secrets.encryptKey, verificationToken: secrets.verificationToken },
    admin: { store, adminToken: undefined, now: Date.now, onRetry: () => undefined },
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
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
});

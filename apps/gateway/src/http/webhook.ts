import type { ParseSecrets } from '@feishu-exam/event-core';
import type { Context } from 'koa';
import { handlePush, type PushDeps, UNVERIFIED } from '../events/push.js';
import { readRawBody, tooLargeAnswer } from './raw-body.js';

export type { EventContext, WebhookReply } from '../events/push.js';

export interface WebhookDeps extends PushDeps {
  readonly secrets: ParseSecrets;
  readonly maxBodyBytes: number;
}

/**
 * POST /webhook/event and /webhook/card: read the body within the limit, then verify, parse and dispatch it
 * as any push (events/push.ts), answering with the push's status and body.
 */
export function webhookHandler(deps: WebhookDeps) {
  const onPush = deps.onPush ?? (() => undefined);
  return async (ctx: Context): Promise<void> => {
    const started = performance.now();
    const raw = await readRawBody(ctx.req, deps.maxBodyBytes);
    if (!raw.ok) {
      if (raw.reason === 'aborted') {
        onPush(UNVERIFIED, 'refused', started, 'request_aborted');
        ctx.status = 400;
        ctx.body = { code: 'request_aborted', message: 'the request body did not arrive whole' };
        return;
      }
      onPush(UNVERIFIED, 'refused', started, 'body_too_large');
      tooLargeAnswer(ctx, raw.bytes, deps.maxBodyBytes);
      return;
    }
    const answer = await handlePush({ headers: ctx.req.headers, rawBody: raw.body }, deps, ctx.path, started);
    ctx.status = answer.status;
    ctx.body = answer.body;
  };
}

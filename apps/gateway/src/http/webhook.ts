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
    if (answer.status !== 200) {
      ctx.body = answer.body; // the access log reads its code
      return;
    }
    // An acknowledgement as JSON text with its type set: Koa's body setter then skips its checks for an
    // object (a stream? a blob? which type?) on every push (BENCHMARKS.md, session 15).
    ctx.set('content-type', JSON_TYPE);
    ctx.body = JSON.stringify(answer.body);
  };
}

const JSON_TYPE = 'application/json; charset=utf-8';

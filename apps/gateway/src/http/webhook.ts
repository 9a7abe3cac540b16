import type { IncomingMessage } from 'node:http';
import type { ParseSecrets } from '@feishu-exam/event-core';
import type { Context } from 'koa';
import { handlePush, type PushDeps, UNVERIFIED } from '../events/push.js';
import { answerWith, type JsonAnswer, readRawBody, unreadBody } from './raw-body.js';

export type { EventContext, WebhookReply } from '../events/push.js';

export interface WebhookDeps extends PushDeps {
  readonly secrets: ParseSecrets;
  readonly maxBodyBytes: number;
}

/**
 * POST /webhook/event and /webhook/card: reads the body within the limit, then verifies, parses and dispatches
 * it as any push (events/push.ts). Says what to answer; the caller writes it (app.ts: the push listener, or
 * Koa for the router's routes).
 */
export async function answerWebhook(
  req: IncomingMessage,
  deps: WebhookDeps,
  path: string,
): Promise<JsonAnswer> {
  const started = performance.now();
  const onPush = deps.onPush ?? (() => undefined);
  const raw = await readRawBody(req, deps.maxBodyBytes);
  if (!raw.ok) {
    const answer = unreadBody(raw, deps.maxBodyBytes);
    onPush(UNVERIFIED, 'refused', started, answer.body.code as string);
    return answer;
  }
  // Refused, the push is logged once, by the access line (app.ts), which names its code.
  return handlePush({ headers: req.headers, rawBody: raw.body }, deps, path, started, false);
}

/** The webhook as a route of the router: a path the push listener leaves to Koa (a trailing slash, other case). */
export function webhookHandler(deps: WebhookDeps) {
  return async (ctx: Context): Promise<void> => {
    const answer = await answerWebhook(ctx.req, deps, ctx.path);
    // A refusal's body stays an object: the access log reads its code.
    if (answer.status !== 200) return answerWith(ctx, answer);
    // An acknowledgement as JSON text with its type set: Koa's body setter then skips its checks for an
    // object (a stream? a blob? which type?) on every push (BENCHMARKS.md, session 15).
    ctx.set('content-type', JSON_TYPE);
    ctx.body = JSON.stringify(answer.body);
  };
}

export const JSON_TYPE = 'application/json; charset=utf-8';

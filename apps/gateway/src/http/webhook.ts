import { type EventDispatcher, type FeishuEvent, type ParseSecrets, parse } from '@feishu-exam/event-core';
import type { Context } from 'koa';
import type { Logger } from '../log.js';
import type { PushOutcome } from '../metrics.js';
import { readRawBody } from './raw-body.js';

/** What a handler gets besides the event: a logger already scoped to the event, and a way to say "seen". */
export interface EventContext {
  readonly log: Logger;
  /** The push repeats one already taken (a re-push, an exam already known): counted as a duplicate. */
  readonly duplicate: () => void;
}

/**
 * A handler may answer the push: a card callback's response body updates the card and shows a toast.
 * Returning nothing acknowledges with the default body.
 */
export type WebhookReply = Record<string, unknown> | undefined;

export interface WebhookDeps {
  readonly secrets: ParseSecrets;
  readonly maxBodyBytes: number;
  readonly dispatcher: EventDispatcher<EventContext, WebhookReply>;
  readonly log: Logger;
  /** Keeps a verified push whose payload is broken, for the operator; it is then acknowledged. */
  readonly recordRejectedEvent: (event: { id: string; type: string }, reason: string) => Promise<void>;
  /** Told what became of each push, and when it arrived (performance.now): the metrics. */
  readonly onPush?: (type: string, outcome: PushOutcome, startedMs: number, code?: string) => void;
}

/** Feishu counts only HTTP 200 as delivered; the SDK's Koa adapter answers 204, which Feishu retries. */
const ACK_EVENT = { code: 0, msg: 'success' };
/** For card.action.trigger, `{}` means "leave the card as it is". */
const ACK_CARD = {};

/**
 * POST /webhook/event and /webhook/card: verify and parse with event-core, answer challenges at once,
 * dispatch events, acknowledge only when every handler succeeded (so a failure is re-pushed by Feishu).
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
      reject(
        ctx,
        413,
        'body_too_large',
        `body_too_large: ${raw.bytes} bytes, the limit is ${deps.maxBodyBytes}`,
      );
      return;
    }

    const result = parse({ headers: ctx.req.headers, rawBody: raw.body }, deps.secrets);
    if (!result.ok) {
      const { code, status, message, path, verifiedEvent } = result.error;
      if (verifiedEvent) {
        // Genuinely Feishu's, but unusable: re-pushing would not fix it. Keep it visible and acknowledge.
        await deps.recordRejectedEvent(verifiedEvent, message);
        deps.log.error(
          { code, path, eventId: verifiedEvent.id, eventType: verifiedEvent.type },
          'verified event rejected: broken payload',
        );
        onPush(verifiedEvent.type, 'rejected', started, code);
        ctx.status = 200;
        ctx.body =
          verifiedEvent.type === 'card.action.trigger'
            ? {
                toast: {
                  type: 'error',
                  content: 'The gateway could not read this click; see /admin/events.',
                },
              }
            : {
                code: 0,
                msg: `recorded as rejected: ${code}${path ? ` at ${path}` : ''}`,
                rejected: { code, message, ...(path ? { path } : {}) },
              };
        return;
      }
      deps.log.warn({ code, status, path, url: ctx.path }, 'push refused');
      onPush(UNVERIFIED, 'refused', started, code);
      reject(ctx, status, code, message, path);
      return;
    }
    if (result.kind === 'challenge') {
      deps.log.info({ path: ctx.path }, 'url verification challenge answered');
      ctx.status = 200;
      ctx.body = { challenge: result.challenge };
      onPush('url_verification', 'accepted', started);
      return;
    }

    const event = result.event;
    const log = deps.log.child({ eventId: event.id, eventType: typeLabel(event) });
    let duplicate = false;
    const outcome = await deps.dispatcher.dispatch(event, {
      log,
      duplicate: () => {
        duplicate = true;
      },
    });
    if (outcome.failures.length > 0) {
      for (const failure of outcome.failures) log.error({ err: failure.error }, 'event handler failed');
      onPush(typeLabel(event), 'refused', started, 'handler_failed');
      if (event.type === 'card.action.trigger') {
        // A card callback is answered with HTTP 200 whatever happens (anything else shows the user error
        // 200671); the click changed nothing, and the toast says so.
        ctx.status = 200;
        ctx.body = {
          toast: { type: 'error', content: 'The gateway could not record this decision. Please try again.' },
        };
        return;
      }
      // Not acknowledged: Feishu re-pushes on its schedule, and the handlers dedupe on the event id.
      reject(ctx, 500, 'handler_failed', 'the event could not be processed; Feishu will push it again');
      return;
    }
    if (outcome.handled === 0) log.debug('no handler for this event type; acknowledged');
    ctx.status = 200;
    ctx.body =
      outcome.results.find((r) => r !== undefined) ??
      (event.type === 'card.action.trigger' ? ACK_CARD : ACK_EVENT);
    onPush(typeLabel(event), duplicate ? 'duplicate' : 'accepted', started);
  };
}

/** A push refused before it was verified: what it claims to be is not worth a label (metrics.ts). */
const UNVERIFIED = 'unverified';

function reject(ctx: Context, status: number, code: string, message: string, path?: string): void {
  ctx.status = status;
  ctx.body = path === undefined ? { code, message } : { code, message, path };
}

function typeLabel(event: FeishuEvent): string {
  return event.type === 'unknown' ? event.originalType : event.type;
}

// push: what the gateway does with one push from Feishu, whatever carried it (a webhook POST, a long-connection
// frame): parse and validate with event-core, answer a challenge, dispatch, and say what to answer. The
// transports only translate the answer (HTTP status and body, or an acknowledgement frame).
import {
  type EventDispatcher,
  type FeishuEvent,
  type ParseSecrets,
  parse,
  type WireRequest,
} from '@feishu-exam/event-core';
import { toast } from '../bot/i18n/index.js';
import type { Logger } from '../log.js';
import type { PushOutcome } from '../metrics.js';

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

export interface PushDeps {
  readonly secrets: ParseSecrets;
  readonly dispatcher: EventDispatcher<EventContext, WebhookReply>;
  readonly log: Logger;
  /** Keeps a verified push whose payload is broken, for the operator; it is then acknowledged. */
  readonly recordRejectedEvent: (event: { id: string; type: string }, reason: string) => Promise<void>;
  /** Told what became of each push, and when it arrived (performance.now): the metrics. */
  readonly onPush?: (type: string, outcome: PushOutcome, startedMs: number, code?: string) => void;
}

/** A push refused before it was verified: what it claims to be is not worth a label (metrics.ts). */
export const UNVERIFIED = 'unverified';

/**
 * The answer to a push: `status` 200 acknowledges it (Feishu counts nothing else as delivered), a 4xx refuses
 * it, a 5xx asks Feishu to push it again. `eventType` is set once the push was read as an event.
 */
export interface PushAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly eventType?: string | undefined;
}

/** Feishu counts only HTTP 200 as delivered; the SDK's Koa adapter answers 204, which Feishu retries. */
const ACK_EVENT = { code: 0, msg: 'success' };
/** For card.action.trigger, `{}` means "leave the card as it is". */
const ACK_CARD = {};

/**
 * Parses and dispatches one push; acknowledges only when every handler succeeded (so a failure is pushed
 * again by Feishu, and the handlers dedupe on the event id).
 */
export async function handlePush(
  request: WireRequest,
  deps: PushDeps,
  where: string,
  started = performance.now(),
  /** False over HTTP: the access line (http/app.ts) is the refusal's one line. */
  logRefusal = true,
): Promise<PushAnswer> {
  const onPush = deps.onPush ?? (() => undefined);
  const result = parse(request, deps.secrets);
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
      return {
        status: 200,
        eventType: verifiedEvent.type,
        body:
          verifiedEvent.type === 'card.action.trigger'
            ? {
                toast: toast('error', (c) => c.toast.unreadable),
              }
            : {
                code: 0,
                msg: `recorded as rejected: ${code}${path ? ` at ${path}` : ''}`,
                rejected: { code, message, ...(path ? { path } : {}) },
              },
      };
    }
    if (logRefusal) deps.log.warn({ code, status, path, url: where }, 'push refused');
    onPush(UNVERIFIED, 'refused', started, code);
    return { status, body: path === undefined ? { code, message } : { code, message, path } };
  }
  if (result.kind === 'challenge') {
    deps.log.info({ path: where }, 'url verification challenge answered');
    onPush('url_verification', 'accepted', started);
    return { status: 200, body: { challenge: result.challenge } };
  }

  const event = result.event;
  const eventType = typeLabel(event);
  const log = deps.log.child({ eventId: event.id, eventType });
  let duplicate = false;
  const dispatched = deps.dispatcher.dispatch(event, {
    log,
    duplicate: () => {
      duplicate = true;
    },
  });
  const outcome =
    event.type === 'card.action.trigger' ? await withinCardAnswerBudget(dispatched, log) : await dispatched;
  if (outcome === LATE) {
    onPush(eventType, 'accepted', started);
    return { status: 200, eventType, body: { toast: toast('info', (c) => c.toast.stillWorking) } };
  }
  if (outcome.failures.length > 0) {
    for (const failure of outcome.failures) log.error({ err: failure.error }, 'event handler failed');
    onPush(eventType, 'refused', started, 'handler_failed');
    if (event.type === 'card.action.trigger') {
      // A card callback is answered with HTTP 200 whatever happens (anything else shows the user error
      // 200671); the click changed nothing, and the toast says so.
      return {
        status: 200,
        eventType,
        body: { toast: toast('error', (c) => c.toast.notRecorded) },
      };
    }
    // Not acknowledged: Feishu re-pushes on its schedule, and the handlers dedupe on the event id.
    return {
      status: 500,
      eventType,
      body: {
        code: 'handler_failed',
        message: 'the event could not be processed; Feishu will push it again',
      },
    };
  }
  if (outcome.handled === 0) log.debug('no handler for this event type; acknowledged');
  onPush(eventType, duplicate ? 'duplicate' : 'accepted', started);
  return {
    status: 200,
    eventType,
    body:
      outcome.results.find((r) => r !== undefined) ??
      (event.type === 'card.action.trigger' ? ACK_CARD : ACK_EVENT),
  };
}

/**
 * How long a card click may take before it is answered all the same: Feishu waits 3 s for a card callback's
 * answer (处理卡片回调: 需要在 3 秒内以 HTTP 200 状态码响应该请求), then shows the user error 200341 and drops a
 * later answer. A click waits on the store (a write lock another process holds, SQLite waiting up to 5 s for
 * it): past this budget it is answered with a toast that the decision is still being recorded, and the
 * decision goes on; its card is updated by the outbox once the exam moves on. The rest of the 3 s is for the
 * answer's way back.
 */
export const CARD_ANSWER_BUDGET_MS = 2500;

const LATE = Symbol('late');

async function withinCardAnswerBudget<T extends { failures: readonly { error: unknown }[] }>(
  dispatched: Promise<T>,
  log: Logger,
): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => resolve(LATE), CARD_ANSWER_BUDGET_MS);
  });
  const outcome = await Promise.race([dispatched, late]);
  clearTimeout(timer);
  if (outcome === LATE) {
    log.warn(
      { budgetMs: CARD_ANSWER_BUDGET_MS },
      "card click not done within Feishu's answer window: answered with a toast, the decision goes on",
    );
    void dispatched.then(
      (o) => {
        for (const failure of o.failures)
          log.error({ err: failure.error }, 'event handler failed (late card click)');
      },
      (err: unknown) => log.error({ err }, 'event handler failed (late card click)'),
    );
  }
  return outcome;
}

function typeLabel(event: FeishuEvent): string {
  return event.type === 'unknown' ? event.originalType : event.type;
}

// The emulated Open Platform: tokens, messages, hire eco APIs; every call recorded; faults on request; and
// Feishu's side of pushes and card clicks.
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { envelopeV1, envelopeV2, seal } from '@feishu-exam/event-core';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import { checkCallbackAnswer, checkCard } from './cards.js';
import { mountConsole } from './console.js';
import { FaultInjector, type FaultKind, type FaultInjector as Faults, type Outage } from './faults.js';
import { FeishuCode, failure, success } from './feishu-errors.js';
import {
  customFieldListViolation,
  type FieldViolation,
  loginInfoViolation,
  paperDeleteViolation,
  paperListViolation,
  updateResultViolation,
} from './hire-eco-checks.js';
import { FEISHU_RETRY_SCHEDULE, type PushAttempt, pushEvent } from './push.js';
import { createLongConnectionServer, LONG_CONNECTION, type LongConnectionOptions } from './ws-server.js';

export interface EmulatedApp {
  readonly appId: string;
  readonly appSecret: string;
  readonly encryptKey?: string | undefined;
  readonly verificationToken?: string | undefined;
  /**
   * marketplace: a store app. Its tokens come from an app_ticket (pushed after `app_ticket/resend`), an
   * app_access_token, then one tenant_access_token per tenant that installed it. Default self_built.
   */
  readonly type?: 'self_built' | 'marketplace' | undefined;
  /** marketplace: the tenants that installed the app (customers, and the vendor's own). */
  readonly tenants?: readonly EmulatedTenant[] | undefined;
  /** Where Feishu pushes the app's events (the app_ticket); can be set later with setEventUrl. */
  readonly eventUrl?: string | undefined;
  /**
   * self_built: the chats the bot is in (im.v1.chat.get answers 230002 for others). Unset: every chat.
   * Marketplace apps use their tenants' `chats`.
   */
  readonly chats?: readonly string[] | undefined;
}

export interface EmulatedTenant {
  readonly tenantKey: string;
  /** The company name tenant.v2.tenant.query answers. */
  readonly name: string;
  /** Chats inside this tenant: only this tenant's token can post to them. */
  readonly chats?: readonly string[] | undefined;
}

/** The tenant a self-built app lives in (and the operator tenant of its card clicks). */
export const SELF_BUILT_TENANT = 'tenant_demo_0001';
/** A ticket is valid 3 hours (Feishu ISV FAQ). */
const TICKET_LIFETIME_MS = 3 * 3600_000;
/** Feishu answers the same tenant/app token while at least 30 minutes of it remain. */
const TOKEN_REUSE_MS = 30 * 60_000;

/**
 * A gateway named by its base URL (`http://127.0.0.1:3000`) gets Feishu's requests at the gateway's usual
 * path; a full URL is used as it is; LONG_CONNECTION sends it over the app's WebSockets instead.
 */
export function endpointOf(gatewayUrl: string, defaultPath: string): string {
  if (gatewayUrl === LONG_CONNECTION) return gatewayUrl;
  const url = new URL(gatewayUrl);
  if (url.pathname === '/' || url.pathname === '') url.pathname = defaultPath;
  return url.toString();
}

export interface EmulatorOptions {
  readonly apps: readonly EmulatedApp[];
  readonly tokenTtlSeconds?: number;
  readonly retrySchedule?: readonly number[];
  readonly deliveryTimeoutMs?: number;
  readonly random?: () => number;
  /** The long connection's ClientConfig, ACK timeout and fault modes (ws-server.ts). */
  readonly longConnection?: Partial<
    Pick<
      LongConnectionOptions,
      'clientConfig' | 'ackTimeoutMs' | 'maxConnections' | 'cardFrameType' | 'fragmentBytes'
    >
  >;
  /** How long after `app_ticket/resend` the ticket is pushed (Feishu: within about 2 minutes). */
  readonly ticketDelayMs?: number;
}

export interface RecordedCall {
  readonly seq: number;
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  readonly body: unknown;
  status: number;
  code: number | undefined;
  fault: FaultKind | undefined;
  readonly appId: string | undefined;
  /** The tenant whose token the call carried (undefined: none, or an auth call). */
  readonly tenantKey: string | undefined;
}

/** Feishu patches a message only within 14 days of sending it (im.v1.message.patch, 使用限制). */
export const MESSAGE_PATCH_WINDOW_MS = 14 * 24 * 3_600_000;

/** How long im.v1.message.create dedupes a uuid: 在 1 小时内至多成功发送一条消息. */
const UUID_WINDOW_MS = 3_600_000;

export interface Message {
  readonly messageId: string;
  readonly appId: string;
  /** The tenant whose token posted it: the tenant of the chat. */
  readonly tenantKey: string;
  readonly chatId: string;
  readonly receiveIdType: string;
  readonly msgType: string;
  readonly uuid: string | undefined;
  readonly schema: '1.0' | '2.0' | undefined;
  content: string;
  readonly history: Array<{ at: number; via: 'create' | 'patch' | 'callback'; content: string }>;
  readonly toasts: unknown[];
}

export interface Click {
  readonly gatewayUrl: string;
  readonly messageId: string;
  readonly operatorOpenId: string;
  readonly value: unknown;
  readonly formValue?: Record<string, unknown> | undefined;
  readonly inputValue?: string | undefined;
  readonly name?: string | undefined;
  /** The operator's tenant; default: the tenant the card was posted in. */
  readonly operatorTenantKey?: string | undefined;
  /**
   * The gateway's answer reaches Feishu this long after the gateway sent it (a slow network), and is applied
   * then, as Feishu applies any answer that comes within its 3 s: a card patched meanwhile is replaced by it.
   */
  readonly answerDelayMs?: number | undefined;
}

export interface PushFields {
  readonly appId?: string | undefined;
  readonly tenantKey?: string | undefined;
  readonly eventId?: string | undefined;
}

export interface RunningEmulator {
  readonly url: string;
  close(): Promise<void>;
}

export function createEmulator(options: EmulatorOptions) {
  const random = options.random ?? Math.random;
  const ttl = options.tokenTtlSeconds ?? 7200;
  const apps = new Map(options.apps.map((a) => [a.appId, a]));
  const tokens = new Map<
    string,
    { appId: string; expiresAt: number; kind: 'tenant' | 'app'; tenantKey: string | undefined }
  >();
  const eventUrls = new Map(
    options.apps.filter((a) => a.eventUrl).map((a) => [a.appId, a.eventUrl as string]),
  );
  const tenantsOf = (appId: string) => apps.get(appId)?.tenants ?? [];
  const appTenant = (appId: string, tenantKey: string) => `${appId}\u0000${tenantKey}`;
  /** Which tenant a chat, an exam or an account belongs to: a call about it needs that tenant's token. */
  const owners = {
    chats: new Map(
      options.apps.flatMap((a) =>
        (a.tenants ?? []).flatMap((t) => (t.chats ?? []).map((c) => [c, t.tenantKey])),
      ),
    ),
    // Ids are unique only inside one tenant's Hire: two customers may each have an exam 1234.
    exams: new Map<string, Set<string>>(),
    accounts: new Map<string, Set<string>>(),
  };
  const state = {
    calls: [] as RecordedCall[],
    messages: new Map<string, Message>(),
    /** A message's uuid (by app) → the message and when it was sent: Feishu dedupes a uuid for an hour. */
    uuids: new Map<string, { messageId: string; at: number }>(),
    loginInfo: [] as Array<{ examId: string; body: unknown; at: number; tenantKey?: string | undefined }>,
    results: [] as Array<{ examId: string; body: unknown; at: number }>,
    pushes: [] as PushAttempt[],
    /** Papers Feishu Hire holds, per account: what the vendor published and did not delete. */
    papers: new Map<string, Map<string, Record<string, unknown>>>(),
    customFields: new Map<number, unknown[]>(),
    /** Custom fields per tenant (marketplace: each customer's Hire has its own). */
    customFieldsByTenant: new Map<string, unknown[]>(),
    /** Issued app_tickets: valid until expiresAt. */
    tickets: new Map<string, { appId: string; expiresAt: number }>(),
    resends: [] as Array<{ appId: string; at: number }>,
    /** Resends waiting for the app's event URL to be known. */
    pendingTickets: [] as string[],
    /** Calls refused because they carried another tenant's token: the mistake made visible. */
    crossTenant: [] as Array<{ path: string; owner: string; tokenTenant: string | undefined }>,
    /**
     * Customers that stopped or uninstalled a marketplace app, by app id and tenant key. From the moment Feishu
     * decides, whether or not its push has reached the gateway: a stopped customer's calls are refused with
     * 99991662, an uninstalled customer gets no token and its tokens stop working.
     */
    appStatus: new Map<string, 'stopped' | 'uninstalled'>(),
    /** Every token and ticket ever handed out: none of them may appear in a gateway's log. */
    secretsIssued: [] as string[],
  };
  const faults: Faults = new FaultInjector(random);
  // A push's target is a webhook URL, or LONG_CONNECTION: then it goes to one of the app's WebSockets.
  const longConnection = createLongConnectionServer({
    ...options.longConnection,
    apps,
    random,
    retrySchedule: options.retrySchedule ?? FEISHU_RETRY_SCHEDULE,
  });
  let seq = 0;
  /** `message` when a card is posted, patched or replaced; `call` when an Open Platform call is answered. */
  const changes = new EventEmitter().setMaxListeners(0);

  const app = new Koa();
  const router = new Router();

  async function readJson(ctx: Context): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (text === '') return {};
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  }

  /**
   * Feishu's limit on the messages into one group (5 a second, shared by the group's bots), when a test turns it
   * on (limitGroupMessages): off by default, so that benches and tests can post cards as fast as the gateway
   * sends them. A sliding second: a message is refused while the chat had `groupLimit` in the last 1,000 ms.
   */
  let groupLimit: number | undefined;
  const groupSends = new Map<string, number[]>();
  const setGroupLimit = (perSecond: number | undefined) => {
    groupLimit = perSecond;
    groupSends.clear();
  };
  const withinGroupLimit = (chatId: string): boolean => {
    if (groupLimit === undefined) return true;
    const now = Date.now();
    const recent = (groupSends.get(chatId) ?? []).filter((at) => at > now - 1000);
    const within = recent.length < groupLimit;
    if (within) recent.push(now);
    groupSends.set(chatId, recent);
    return within;
  };

  const answer = (ctx: Context, status: number, body: { code: number }) => {
    ctx.status = status;
    ctx.body = body;
  };
  /** 99991663, as Feishu answers a tenant token it no longer takes (expired, revoked, its tenant gone). */
  const tokenRefused = (ctx: Context) =>
    answer(
      ctx,
      400,
      failure(
        FeishuCode.tokenInvalid,
        'Invalid access token for authorization. Please make a request with token attached.',
      ),
    );

  // Record every Open Platform call, inject faults, check the bearer token.
  app.use(async (ctx, next) => {
    if (!ctx.path.startsWith('/open-apis/')) return next();
    const body = await readJson(ctx);
    ctx.state.body = body;
    const call: RecordedCall = {
      seq: ++seq,
      at: Date.now(),
      method: ctx.method,
      path: ctx.path,
      query: { ...ctx.query },
      body,
      status: 0,
      code: undefined,
      fault: undefined,
      appId: undefined,
      tenantKey: undefined,
    };
    state.calls.push(call);
    try {
      const fault = faults.next(ctx.path);
      if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
      if (fault && fault.kind !== 'delay') {
        call.fault = fault.kind;
        if (fault.kind === 'http_500')
          return answer(ctx, 500, failure(FeishuCode.internal, 'internal error'));
        if (fault.kind === 'http_503') {
          ctx.status = 503;
          ctx.body = 'Service Temporarily Unavailable';
          return;
        }
        if (fault.kind === 'invalid_request')
          return answer(ctx, 400, failure(FeishuCode.fieldValidation, 'field validation failed'));
        if (fault.kind === 'rate_limit') {
          ctx.set('x-ogw-ratelimit-limit', '50');
          ctx.set('x-ogw-ratelimit-reset', '1');
          return answer(ctx, 429, failure(FeishuCode.rateLimited, 'request trigger frequency limit'));
        }
        const presented = /^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1];
        if (presented) tokens.delete(presented);
        return tokenRefused(ctx);
      }
      if (body === undefined)
        return answer(ctx, 400, failure(FeishuCode.fieldValidation, 'the request body is not JSON'));
      if (!ctx.path.startsWith('/open-apis/auth/')) {
        const presented = /^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1];
        if (!presented)
          return answer(
            ctx,
            400,
            failure(
              FeishuCode.missingToken,
              'Missing access token for authorization. Please make a request with token attached.',
            ),
          );
        const token = tokens.get(presented);
        if (token?.kind !== 'tenant' || token.expiresAt < Date.now()) {
          return tokenRefused(ctx);
        }
        ctx.state.appId = token.appId;
        ctx.state.tenantKey = token.tenantKey;
        (call as { appId: string | undefined }).appId = token.appId;
        (call as { tenantKey: string | undefined }).tenantKey = token.tenantKey;
        const status = token.tenantKey
          ? state.appStatus.get(appTenant(token.appId, token.tenantKey))
          : undefined;
        if (status === 'uninstalled') {
          tokens.delete(presented);
          return tokenRefused(ctx);
        }
        if (status === 'stopped')
          return answer(ctx, 400, failure(FeishuCode.appStopped, 'the app is stopped in this tenant'));
      }
      await next();
    } finally {
      call.status = ctx.status;
      call.code = (ctx.body as { code?: number } | undefined)?.code;
      const touched =
        ctx.params?.message_id ?? (ctx.body as { data?: { message_id?: string } })?.data?.message_id;
      if (call.status === 200 && touched && state.messages.has(touched))
        changes.emit('message', state.messages.get(touched));
      changes.emit('call', call);
    }
  });

  const issueToken = (ctx: Context, kind: 'tenant_access_token' | 'app_access_token') => {
    const { app_id, app_secret } = (ctx.state.body ?? {}) as { app_id?: string; app_secret?: string };
    const known = app_id ? apps.get(app_id) : undefined;
    if (!known || known.appSecret !== app_secret) {
      ctx.body = { code: FeishuCode.appSecretInvalid, msg: 'app secret invalid' };
      return;
    }
    const token = `t-${randomBytes(20).toString('hex')}`;
    state.secretsIssued.push(token);
    tokens.set(token, {
      appId: known.appId,
      expiresAt: Date.now() + ttl * 1000,
      kind: kind === 'app_access_token' ? 'app' : 'tenant',
      tenantKey: SELF_BUILT_TENANT,
    });
    ctx.body = { code: 0, msg: 'ok', [kind]: token, expire: ttl };
  };

  // Marketplace apps (auth-v3 docs): resend → app_ticket push; app_ticket → app_access_token;
  // app_access_token + tenant_key → tenant_access_token. Answers are flat (no `data`).
  const marketplaceApp = (ctx: Context) => {
    const { app_id, app_secret } = (ctx.state.body ?? {}) as { app_id?: string; app_secret?: string };
    const known = app_id ? apps.get(app_id) : undefined;
    if (!known || known.appSecret !== app_secret) {
      ctx.body = { code: FeishuCode.appSecretInvalid, msg: 'app secret invalid' };
      return undefined;
    }
    if (known.type !== 'marketplace') {
      ctx.body = { code: FeishuCode.resendFailed, msg: 'app resend fail: not a store app' };
      return undefined;
    }
    return known;
  };
  /** The token Feishu still answers with while 30 minutes remain, else a fresh one (the old stays valid). */
  const reuseOrIssue = (appId: string, kind: 'tenant' | 'app', tenantKey: string | undefined) => {
    const now = Date.now();
    for (const [token, t] of tokens)
      if (
        t.appId === appId &&
        t.kind === kind &&
        t.tenantKey === tenantKey &&
        t.expiresAt - now >= TOKEN_REUSE_MS
      )
        return token;
    const token = `${kind === 'app' ? 'a' : 't'}-${randomBytes(20).toString('hex')}`;
    tokens.set(token, { appId, expiresAt: now + ttl * 1000, kind, tenantKey });
    state.secretsIssued.push(token);
    return token;
  };
  router.post('/open-apis/auth/v3/app_ticket/resend', (ctx) => {
    const known = marketplaceApp(ctx);
    if (!known) return;
    state.resends.push({ appId: known.appId, at: Date.now() });
    setTimeout(() => void emulator.pushTicket(known.appId), options.ticketDelayMs ?? 100).unref();
    ctx.body = { code: 0, msg: 'success' };
  });
  router.post('/open-apis/auth/v3/app_access_token', (ctx) => {
    const known = marketplaceApp(ctx);
    if (!known) return;
    const ticket = state.tickets.get(String((ctx.state.body as { app_ticket?: unknown }).app_ticket ?? ''));
    if (!ticket || ticket.appId !== known.appId || ticket.expiresAt < Date.now()) {
      ctx.body = {
        code: FeishuCode.appTicketInvalid,
        msg: 'get app access token fail: app_ticket is invalid',
      };
      return;
    }
    ctx.body = {
      code: 0,
      msg: 'success',
      app_access_token: reuseOrIssue(known.appId, 'app', undefined),
      expire: ttl,
    };
  });
  router.post('/open-apis/auth/v3/tenant_access_token', (ctx) => {
    const body = (ctx.state.body ?? {}) as { app_access_token?: string; tenant_key?: string };
    const appToken = tokens.get(body.app_access_token ?? '');
    if (appToken?.kind !== 'app' || appToken.expiresAt < Date.now()) {
      ctx.body = { code: FeishuCode.appTokenInvalid, msg: 'invalid app access token' };
      return;
    }
    if (
      !tenantsOf(appToken.appId).some((t) => t.tenantKey === body.tenant_key) ||
      state.appStatus.get(appTenant(appToken.appId, body.tenant_key ?? '')) === 'uninstalled'
    ) {
      ctx.body = {
        code: FeishuCode.tenantKeyInvalid,
        msg: 'invalid tenant code: the app is not installed there',
      };
      return;
    }
    ctx.body = {
      code: 0,
      msg: 'success',
      tenant_access_token: reuseOrIssue(appToken.appId, 'tenant', body.tenant_key),
      expire: ttl,
    };
  });
  router.get('/open-apis/tenant/v2/tenant/query', (ctx) => {
    const tenantKey = ctx.state.tenantKey as string | undefined;
    const tenant = tenantsOf(ctx.state.appId as string).find((t) => t.tenantKey === tenantKey);
    ctx.body = success({
      tenant: {
        name: tenant?.name ?? 'Emulated Company',
        display_id: `F${(tenantKey ?? '').slice(-6)}`,
        tenant_tag: 0,
        tenant_key: tenantKey,
        avatar: {},
      },
    });
  });

  /**
   * Feishu would carry out a call made with the wrong tenant's token in that tenant (another customer's
   * Hire, another company's chat). The emulator refuses it instead, and keeps it, so the mistake shows.
   */
  const wrongTenant = (
    ctx: Context,
    owner: string | ReadonlySet<string> | undefined,
    code: number,
    what: string,
  ) => {
    const tokenTenant = ctx.state.tenantKey as string | undefined;
    // A self-built app lives in one tenant: whatever its events say, its one token is the right one.
    if (owner === undefined || apps.get(ctx.state.appId as string)?.type !== 'marketplace') return false;
    if (
      typeof owner === 'string' ? owner === tokenTenant : tokenTenant !== undefined && owner.has(tokenTenant)
    )
      return false;
    const ownerText = typeof owner === 'string' ? owner : [...owner].join(' or ');
    state.crossTenant.push({ path: ctx.path, owner: ownerText, tokenTenant });
    answer(
      ctx,
      400,
      failure(
        code,
        `${what} belongs to tenant ${ownerText}, but the call carried tenant ${tokenTenant}'s token`,
      ),
    );
    return true;
  };
  router.post('/open-apis/auth/v3/tenant_access_token/internal', (ctx) =>
    issueToken(ctx, 'tenant_access_token'),
  );
  router.post('/open-apis/auth/v3/app_access_token/internal', (ctx) => issueToken(ctx, 'app_access_token'));

  const fieldError = (ctx: Context, field: string, description: string) =>
    answer(
      ctx,
      400,
      failure(FeishuCode.fieldValidation, 'field validation failed', {
        field_violations: [{ field, description }],
      }),
    );

  /** Whether the app's bot is in the chat: a self-built app's `chats` (unset: every chat), a store app's tenants'. */
  const botIsIn = (appId: string, chatId: string) => {
    const app = apps.get(appId);
    return app?.type === 'marketplace'
      ? owners.chats.get(chatId) !== undefined
      : (app?.chats?.includes(chatId) ?? true);
  };
  router.post('/open-apis/im/v1/messages', (ctx) => {
    const appId = ctx.state.appId as string;
    const receiveIdType = String(ctx.query.receive_id_type ?? '');
    if (!['open_id', 'user_id', 'union_id', 'email', 'chat_id'].includes(receiveIdType))
      return fieldError(
        ctx,
        'receive_id_type',
        'receive_id_type is required and must be open_id, user_id, union_id, email or chat_id',
      );
    const body = ctx.state.body as {
      receive_id?: unknown;
      msg_type?: unknown;
      content?: unknown;
      uuid?: unknown;
    };
    for (const field of ['receive_id', 'msg_type', 'content'] as const) {
      if (typeof body[field] !== 'string' || body[field] === '')
        return fieldError(ctx, field, `${field} is required`);
    }
    if (receiveIdType === 'chat_id') {
      // 发送消息, 错误码: "400 | 230002 | The bot can not be outside the group" (as im.v1.chat.get below).
      const chatId = String(body.receive_id);
      if (!botIsIn(ctx.state.appId as string, chatId))
        return answer(ctx, 400, failure(FeishuCode.botNotInChat, 'The bot can not be outside the group.'));
      if (wrongTenant(ctx, owners.chats.get(chatId), FeishuCode.botNotInChat, `chat ${chatId}`)) return;
    }
    const uuid = typeof body.uuid === 'string' ? body.uuid : undefined;
    if (uuid && uuid.length > 50) return fieldError(ctx, 'uuid', 'uuid must be at most 50 characters');
    // "持有相同 uuid 的请求，在 1 小时内至多成功发送一条消息" (im.v1.message.create): an hour later the same uuid
    // sends a new message.
    const earlier = uuid ? state.uuids.get(`${appId}:${uuid}`) : undefined;
    if (earlier && Date.now() - earlier.at < UUID_WINDOW_MS) {
      ctx.body = success(messageData(state.messages.get(earlier.messageId) as Message));
      return;
    }
    if (receiveIdType === 'chat_id' && !withinGroupLimit(String(body.receive_id)))
      return answer(
        ctx,
        400,
        failure(FeishuCode.chatRateLimited, 'This operation triggers the frequency limit.'),
      );
    let schema: Message['schema'];
    if (body.msg_type === 'interactive') {
      const check = checkCard(body.content);
      if (!check.ok) return answer(ctx, 400, failure(check.code, check.reason));
      schema = check.schema;
    }
    const message: Message = {
      messageId: `om_${randomBytes(16).toString('hex')}`,
      appId,
      tenantKey: (ctx.state.tenantKey as string | undefined) ?? SELF_BUILT_TENANT,
      chatId: receiveIdType === 'chat_id' ? String(body.receive_id) : `oc_p2p_${String(body.receive_id)}`,
      receiveIdType,
      msgType: String(body.msg_type),
      uuid,
      schema,
      content: String(body.content),
      history: [{ at: Date.now(), via: 'create', content: String(body.content) }],
      toasts: [],
    };
    state.messages.set(message.messageId, message);
    if (uuid) state.uuids.set(`${appId}:${uuid}`, { messageId: message.messageId, at: Date.now() });
    ctx.body = success(messageData(message));
  });

  // im.v1.chat.get: the chat, if the bot is in it (the gateway's doctor checks the staff chat with it).
  router.get('/open-apis/im/v1/chats/:chat_id', (ctx) => {
    const chatId = ctx.params.chat_id as string;
    const owner = owners.chats.get(chatId);
    if (!botIsIn(ctx.state.appId as string, chatId))
      return answer(ctx, 400, failure(FeishuCode.botNotInChat, `the bot is not in chat ${chatId}`));
    if (wrongTenant(ctx, owner, FeishuCode.botNotInChat, `chat ${chatId}`)) return;
    ctx.body = success({ chat_id: chatId, name: 'Staff chat', chat_mode: 'group', chat_type: 'private' });
  });
  router.patch('/open-apis/im/v1/messages/:message_id', (ctx) => {
    const message = state.messages.get(ctx.params.message_id as string);
    if (!message)
      return answer(
        ctx,
        400,
        failure(FeishuCode.messageNotFound, 'The message is not found, maybe not exist or deleted.'),
      );
    if (message.appId !== ctx.state.appId || message.tenantKey !== (ctx.state.tenantKey ?? SELF_BUILT_TENANT))
      return answer(
        ctx,
        400,
        failure(FeishuCode.notMessageSender, 'Only the sender of the message can update it.'),
      );
    if (message.msgType !== 'interactive')
      return answer(ctx, 400, failure(FeishuCode.cardInvalid, 'only interactive messages can be patched'));
    if (Date.now() - (message.history[0]?.at ?? Date.now()) > MESSAGE_PATCH_WINDOW_MS)
      return answer(
        ctx,
        400,
        failure(FeishuCode.messageTooOld, 'Message can only be modified within 14 days after sending.'),
      );
    const content = (ctx.state.body as { content?: unknown }).content;
    const check = checkCard(content);
    if (!check.ok) return answer(ctx, 400, failure(check.code, check.reason));
    if (message.schema === '2.0' && check.schema !== '2.0')
      return answer(
        ctx,
        400,
        failure(FeishuCode.cardInvalid, 'a card sent as JSON 2.0 must be updated with JSON 2.0'),
      );
    message.content = content as string;
    message.history.push({ at: Date.now(), via: 'patch', content: content as string });
    ctx.body = success({});
  });

  /** Answers Feishu's field-validation error for the body's first violation; true when there was one. */
  const refused = (ctx: Context, found: FieldViolation | undefined) => {
    if (found) fieldError(ctx, found.field, found.description);
    return found !== undefined;
  };

  router.post('/open-apis/hire/v1/eco_exams/:exam_id/login_info', (ctx) => {
    const examId = ctx.params.exam_id as string;
    if (wrongTenant(ctx, owners.exams.get(examId), FeishuCode.wrongTenant, `exam ${examId}`)) return;
    const body = ctx.state.body as Record<string, unknown>;
    if (refused(ctx, loginInfoViolation(body))) return;
    state.loginInfo.push({
      examId,
      body,
      at: Date.now(),
      tenantKey: ctx.state.tenantKey as string | undefined,
    });
    ctx.body = success({});
  });

  router.post('/open-apis/hire/v1/eco_exams/:exam_id/update_result', (ctx) => {
    const examId = ctx.params.exam_id as string;
    if (wrongTenant(ctx, owners.exams.get(examId), FeishuCode.wrongTenant, `exam ${examId}`)) return;
    const body = ctx.state.body as Record<string, unknown>;
    if (refused(ctx, updateResultViolation(body))) return;
    state.results.push({ examId, body, at: Date.now() });
    ctx.body = success({});
  });

  /** The account a paper call is about, when the body is acceptable and the token is its tenant's. */
  const paperAccount = (
    ctx: Context,
    check: (body: Record<string, unknown>) => FieldViolation | undefined,
  ) => {
    const body = ctx.state.body as Record<string, unknown>;
    if (refused(ctx, check(body))) return undefined;
    const accountId = body.account_id as string;
    if (wrongTenant(ctx, owners.accounts.get(accountId), FeishuCode.wrongTenant, `account ${accountId}`))
      return undefined;
    return accountId;
  };
  // Full replace: the account's papers become exactly this list.
  router.post('/open-apis/hire/v1/eco_exam_papers', (ctx) => {
    const accountId = paperAccount(ctx, paperListViolation);
    if (accountId === undefined) return;
    const papers = (ctx.state.body as { paper_list: Array<Record<string, unknown>> }).paper_list;
    state.papers.set(accountId, new Map(papers.map((p) => [String(p.id), p])));
    ctx.body = success({});
  });
  router.post('/open-apis/hire/v1/eco_exam_papers/batch_delete', (ctx) => {
    const accountId = paperAccount(ctx, paperDeleteViolation);
    if (accountId === undefined) return;
    // A missing id is not an error.
    for (const id of (ctx.state.body as { paper_id_list: string[] }).paper_id_list)
      state.papers.get(accountId)?.delete(id);
    ctx.body = success({});
  });
  router.post('/open-apis/hire/v1/eco_account_custom_fields', (ctx) => {
    const body = ctx.state.body as { scope: number; custom_field_list: unknown[] };
    if (refused(ctx, customFieldListViolation(body))) return;
    state.customFields.set(body.scope, body.custom_field_list);
    state.customFieldsByTenant.set(
      `${ctx.state.tenantKey ?? SELF_BUILT_TENANT}:${body.scope}`,
      body.custom_field_list,
    );
    ctx.body = success({});
  });

  // Control API: what was called, faults, pushes and clicks.
  router.get('/_emulator/calls', (ctx) => {
    const filter = typeof ctx.query.path === 'string' ? ctx.query.path : '';
    ctx.body = { calls: state.calls.filter((c) => c.path.includes(filter)) };
  });
  router.delete('/_emulator/calls', (ctx) => {
    state.calls.length = 0;
    ctx.body = { ok: true };
  });
  router.get('/_emulator/messages', (ctx) => {
    ctx.body = { messages: [...state.messages.values()] };
  });
  router.get('/_emulator/login-info', (ctx) => {
    ctx.body = { loginInfo: state.loginInfo };
  });
  router.get('/_emulator/pushes', (ctx) => {
    ctx.body = { pushes: state.pushes };
  });
  router.post('/_emulator/faults', async (ctx) => {
    const f = (await readJson(ctx)) as { match?: string; kind?: FaultKind; count?: number; delayMs?: number };
    faults.queue({
      match: f.match ?? '',
      kind: f.kind ?? 'http_500',
      count: f.count ?? 1,
      delayMs: f.delayMs,
    });
    ctx.body = { ok: true };
  });
  router.post('/_emulator/faults/random', async (ctx) => {
    const f = (await readJson(ctx)) as { rate?: number; kinds?: FaultKind[]; match?: string };
    faults.setRandom({
      rate: f.rate ?? 0.3,
      kinds: f.kinds ?? ['http_500', 'rate_limit', 'token_expired'],
      match: f.match,
    });
    ctx.body = { ok: true };
  });
  // An outage: every Open Platform call fails with `kind` (token calls too unless include_tokens is false)
  // until DELETE /_emulator/outage (or DELETE /_emulator/faults).
  router.post('/_emulator/outage', async (ctx) => {
    const o = (await readJson(ctx)) as { kind?: Outage['kind']; include_tokens?: boolean } | undefined;
    faults.setOutage({ kind: o?.kind ?? 'http_503', includeTokens: o?.include_tokens ?? true });
    ctx.body = { ok: true, outage: faults.outage };
  });
  router.delete('/_emulator/outage', (ctx) => {
    faults.setOutage(undefined);
    ctx.body = { ok: true };
  });
  // Feishu's limit on the messages into one group: {per_second: 5} refuses the sixth in a second (230020) until
  // DELETE /_emulator/group-limit.
  router.post('/_emulator/group-limit', async (ctx) => {
    const l = (await readJson(ctx)) as { per_second?: unknown } | undefined;
    const perSecond = Number(l?.per_second ?? 5);
    if (!Number.isInteger(perSecond) || perSecond < 1) {
      ctx.status = 400;
      ctx.body = { ok: false, error: 'per_second must be a whole number of at least 1' };
      return;
    }
    setGroupLimit(perSecond);
    ctx.body = { ok: true, per_second: perSecond };
  });
  router.delete('/_emulator/group-limit', (ctx) => {
    setGroupLimit(undefined);
    ctx.body = { ok: true };
  });
  router.delete('/_emulator/faults', (ctx) => {
    faults.clear();
    ctx.body = { ok: true };
  });
  const pushable: Record<string, string> = {
    exam: 'hire.eco_exam.created_v1',
    account: 'hire.eco_account.created_v1',
  };
  router.post('/_emulator/push/:kind', async (ctx) => {
    const eventType = pushable[ctx.params.kind as string];
    if (!eventType) {
      ctx.status = 404;
      ctx.body = { error: `push one of: ${Object.keys(pushable).join(', ')}` };
      return;
    }
    const { gateway_url, app_id, tenant_key, event_id, ...event } = (await readJson(ctx)) as Record<
      string,
      unknown
    >;
    ctx.body = {
      attempts: await emulator.pushEventOfType(
        endpointOf(String(gateway_url), '/webhook/event'),
        eventType,
        event,
        {
          appId: app_id as string | undefined,
          tenantKey: tenant_key as string | undefined,
          eventId: event_id as string | undefined,
        },
      ),
    };
  });
  router.post('/_emulator/tenants/:tenantKey/expire-tokens', (ctx) => {
    emulator.expireTenantTokens(ctx.params.tenantKey as string);
    ctx.body = { ok: true };
  });
  router.post('/_emulator/event-url', async (ctx) => {
    const b = (await readJson(ctx)) as { url?: string; app_id?: string };
    ctx.body = { pushed: await emulator.setEventUrl(String(b.url), b.app_id ?? firstApp.appId) };
  });
  router.get('/_emulator/papers', (ctx) => {
    ctx.body = {
      papers: Object.fromEntries(
        [...state.papers].map(([account, papers]) => [account, [...papers.values()]]),
      ),
    };
  });
  router.post('/_emulator/click', async (ctx) => {
    const c = (await readJson(ctx)) as Record<string, unknown>;
    ctx.body = await emulator.click({
      gatewayUrl: endpointOf(String(c.gateway_url), '/webhook/card'),
      messageId: String(c.message_id),
      operatorOpenId: String(c.operator_open_id),
      value: c.value,
      formValue: c.form_value as Record<string, unknown> | undefined,
      inputValue: c.input_value as string | undefined,
      name: c.name as string | undefined,
    });
  });

  longConnection.mount(router, readJson);
  const consolePage = mountConsole(router, state, changes);

  app.use(router.routes());
  app.use(router.allowedMethods());

  const firstApp = options.apps[0] as EmulatedApp;
  const sealFor = (app: EmulatedApp) => ({ encryptKey: app.encryptKey });

  const emulator = {
    app,
    state,
    faults,
    longConnection,
    /** Every change the console shows, as it happens. */
    changes,
    /** The console page (GET /console/): where the gateway is and who may click. */
    console: consolePage,
    /**
     * As if the message had been sent `ms` earlier than it was (its whole history moves back): how tests reach
     * Feishu's 14-day limit on patching a message without waiting for it.
     */
    backdateMessage(messageId: string, ms: number): void {
      const message = state.messages.get(messageId);
      if (!message) throw new Error(`no message ${messageId}`);
      for (const entry of message.history) entry.at -= ms;
    },
    /** Queue faults for the next `count` calls whose path contains `match`. */
    injectFaults: (f: { match: string; kind: FaultKind; count: number; delayMs?: number }) => faults.queue(f),
    /** Make a share of matching calls fail, until clearFaults. */
    randomFaults: (rate: number, kinds: FaultKind[], match?: string) =>
      faults.setRandom({ rate, kinds, match }),
    clearFaults: () => faults.clear(),
    /** Every Open Platform call fails with `kind` (token calls too, unless told) until endOutage. */
    outage: (kind: Outage['kind'], options: { includeTokens?: boolean } = {}) =>
      faults.setOutage({ kind, includeTokens: options.includeTokens ?? true }),
    endOutage: () => faults.setOutage(undefined),
    /**
     * Refuse messages into a group beyond `perSecond` in any second (Feishu's is 5), as Feishu does: HTTP 400, code
     * 230020. `undefined` lifts the limit (the default).
     */
    limitGroupMessages: setGroupLimit,
    revokeTokens: () => tokens.clear(),
    /** How many tenant tokens were asked for, per tenant (marketplace). */
    tenantTokenRequests(): Record<string, number> {
      const counts: Record<string, number> = {};
      for (const c of state.calls)
        if (c.path === '/open-apis/auth/v3/tenant_access_token' && c.code === 0) {
          const key = String((c.body as { tenant_key?: unknown }).tenant_key);
          counts[key] = (counts[key] ?? 0) + 1;
        }
      return counts;
    },

    /**
     * Pushes a schema 2.0 event of `eventType` to a gateway as the app Feishu would (header.token = its
     * verification token), re-pushing on Feishu's (possibly compressed) schedule until HTTP 200.
     */
    pushEventOfType(
      gatewayUrl: string,
      eventType: string,
      event: Record<string, unknown>,
      fields: PushFields = {},
    ) {
      const target = apps.get(fields.appId ?? firstApp.appId) ?? firstApp;
      const tenantKey = fields.tenantKey ?? SELF_BUILT_TENANT;
      // The exam or account now exists in this tenant's Hire: calls about it need this tenant's token.
      const own = (map: Map<string, Set<string>>, id: string) =>
        map.set(id, (map.get(id) ?? new Set()).add(tenantKey));
      if (typeof event.exam_id === 'string') own(owners.exams, event.exam_id);
      if (typeof event.account_id === 'string' && eventType === 'hire.eco_account.created_v1')
        own(owners.accounts, event.account_id);
      const envelope = envelopeV2(eventType, event, {
        eventId: fields.eventId ?? randomUUID().replaceAll('-', ''),
        token: target.verificationToken ?? '',
        appId: target.appId,
        tenantKey,
      });
      return emulator.push(gatewayUrl, envelope, target);
    },

    /** A schema 1.0 event (app_ticket, app_open, app_status_change, app_uninstalled), sealed like the rest. */
    pushV1(gatewayUrl: string, eventType: string, event: Record<string, unknown>, appId = firstApp.appId) {
      const target = apps.get(appId) ?? firstApp;
      const envelope = envelopeV1(
        eventType,
        { ...event, app_id: target.appId },
        {
          token: target.verificationToken ?? '',
        },
      );
      return emulator.push(gatewayUrl, envelope, target);
    },

    /**
     * A tenant installed, started, stopped or uninstalled the marketplace app: Feishu acts on it at once
     * (setAppStatus), then pushes the event.
     */
    pushLifecycle(gatewayUrl: string, tenantKey: string, what: LifecycleChange, appId = firstApp.appId) {
      emulator.setAppStatus(tenantKey, what, appId);
      if (what === 'app_open' || what === 'app_uninstalled')
        return emulator.pushV1(gatewayUrl, what, { tenant_key: tenantKey }, appId);
      return emulator.pushV1(gatewayUrl, 'app_status_change', { tenant_key: tenantKey, status: what }, appId);
    },

    /**
     * What Feishu does when a tenant starts, stops, installs or uninstalls the app, without the push: for a push
     * that is late or lost, the gateway's calls meet the change before the gateway hears of it.
     */
    setAppStatus(tenantKey: string, what: LifecycleChange, appId = firstApp.appId) {
      const key = appTenant(appId, tenantKey);
      if (what === 'stop_by_tenant' || what === 'stop_by_platform') state.appStatus.set(key, 'stopped');
      else if (what === 'app_uninstalled') state.appStatus.set(key, 'uninstalled');
      else state.appStatus.delete(key);
    },

    /** Issues a fresh app_ticket and pushes it to the app's event URL (held until the URL is known). */
    async pushTicket(appId = firstApp.appId): Promise<PushAttempt[]> {
      const url = eventUrls.get(appId);
      if (!url) {
        state.pendingTickets.push(appId);
        return [];
      }
      const ticket = randomBytes(16).toString('hex');
      state.secretsIssued.push(ticket);
      state.tickets.set(ticket, { appId, expiresAt: Date.now() + TICKET_LIFETIME_MS });
      return emulator.pushV1(url, 'app_ticket', { app_ticket: ticket, type: 'app_ticket' }, appId);
    },

    /** Where the app's events go (a gateway replica); a ticket asked for before this is pushed now. */
    async setEventUrl(url: string, appId = firstApp.appId): Promise<PushAttempt[][]> {
      eventUrls.set(appId, url);
      const waiting = state.pendingTickets.filter((a) => a === appId);
      state.pendingTickets = state.pendingTickets.filter((a) => a !== appId);
      return Promise.all(waiting.map(() => emulator.pushTicket(appId)));
    },

    /** Every issued ticket stops being valid (a ticket older than 3 h): app tokens are refused with 10012. */
    expireTickets: () => state.tickets.clear(),

    /** One tenant's tokens expire: its next calls are answered 99991663; other tenants are untouched. */
    expireTenantTokens(tenantKey: string) {
      for (const [token, t] of tokens) if (t.tenantKey === tenantKey) tokens.delete(token);
    },

    /** hire.eco_exam.created_v1: a customer scheduled a written exam. */
    pushExam: (gatewayUrl: string, exam: Record<string, unknown>, fields: PushFields = {}) =>
      emulator.pushEventOfType(gatewayUrl, 'hire.eco_exam.created_v1', exam, fields),

    /** hire.eco_account.created_v1: a customer bound an account with the vendor. */
    pushAccount: (gatewayUrl: string, account: Record<string, unknown>, fields: PushFields = {}) =>
      emulator.pushEventOfType(gatewayUrl, 'hire.eco_account.created_v1', account, fields),

    push(
      gatewayUrl: string,
      envelope: { header?: { event_id?: string }; uuid?: string },
      target: EmulatedApp = firstApp,
    ) {
      if (gatewayUrl === LONG_CONNECTION)
        return longConnection.deliverEvent(target.appId, envelope.header?.event_id ?? '', envelope);
      return pushEvent(gatewayUrl, envelope, sealFor(target), {
        retrySchedule: options.retrySchedule ?? FEISHU_RETRY_SCHEDULE,
        timeoutMs: options.deliveryTimeoutMs ?? 3000,
        onAttempt: (a) => state.pushes.push(a),
      });
    },

    /**
     * A staff member clicks a button of a card: card.action.trigger, delivered once (Feishu shows a failed
     * callback to the user as an error code rather than retrying). A card in the answer replaces the message;
     * an answer the client cannot use is its error code (checkCallbackAnswer).
     */
    /**
     * A staff member clicks, and clicks again while the answer asks to: a card seen in the chat a moment before
     * the gateway recorded it cannot be tied to its exam yet, and the gateway says "click again" (its toast).
     */
    async clickAsStaff(c: Click, attempts = 200): Promise<{ status: number; body: unknown }> {
      for (let attempt = 1; ; attempt++) {
        const answer = await emulator.click(c);
        if (attempt >= attempts || !JSON.stringify(answer.body).includes('click again')) return answer;
        await new Promise((r) => setTimeout(r, 25));
      }
    },

    async click(c: Click): Promise<{ status: number; body: unknown }> {
      const message = state.messages.get(c.messageId);
      const target = (message && apps.get(message.appId)) ?? firstApp;
      const operatorTenant = c.operatorTenantKey ?? message?.tenantKey ?? SELF_BUILT_TENANT;
      const envelope = envelopeV2(
        'card.action.trigger',
        {
          operator: {
            tenant_key: operatorTenant,
            user_id: c.operatorOpenId.replace(/^ou_/, 'u_'),
            open_id: c.operatorOpenId,
            union_id: c.operatorOpenId.replace(/^ou_/, 'on_'),
          },
          token: `c-${randomBytes(16).toString('hex')}`,
          action: {
            value: c.value,
            tag: 'button',
            ...(c.name ? { name: c.name } : {}),
            ...(c.formValue ? { form_value: c.formValue } : {}),
            ...(c.inputValue !== undefined ? { input_value: c.inputValue } : {}),
          },
          host: 'im_message',
          context: { open_message_id: c.messageId, open_chat_id: message?.chatId ?? '' },
        },
        { token: target.verificationToken ?? '', appId: target.appId, tenantKey: operatorTenant },
      );
      let status: number;
      let body: unknown;
      if (c.gatewayUrl === LONG_CONNECTION) {
        // Over the long connection the answer is the acknowledgement's data; Feishu's client error codes
        // stand in for the HTTP status: 200341 no answer in 3 s, 200671 not code 200.
        const sent = await longConnection.deliverCallback(target.appId, envelope.header.event_id, envelope);
        status = sent.outcome === 'acked' ? 200 : sent.outcome === 'not_ok' ? 200671 : 200341;
        body = sent.reply ?? {};
      } else {
        const { headers, rawBody } = seal(envelope, sealFor(target));
        const response = await fetch(c.gatewayUrl, {
          method: 'POST',
          headers,
          body: rawBody,
          signal: AbortSignal.timeout(3000),
        });
        const text = await response.text();
        status = response.status;
        body = text;
        try {
          body = JSON.parse(text);
        } catch {}
      }
      if (c.answerDelayMs) await new Promise((r) => setTimeout(r, c.answerDelayMs));
      if (message && status === 200) {
        const answer = checkCallbackAnswer(body, message.schema);
        if (!answer.ok) return { status: answer.code, body };
        const toast = (body as { toast?: unknown }).toast;
        if (toast) message.toasts.push(toast);
        if (answer.card) {
          message.content = JSON.stringify(answer.card);
          message.history.push({ at: Date.now(), via: 'callback', content: message.content });
        }
        changes.emit('message', message);
      }
      return { status, body };
    },

    async listen(port = 0, host = '127.0.0.1'): Promise<RunningEmulator> {
      const server: Server = app.listen(port, host);
      longConnection.attach(server);
      await new Promise<void>((resolve, reject) => {
        server.once('listening', resolve);
        server.once('error', reject);
      });
      return {
        url: `http://${host}:${(server.address() as AddressInfo).port}`,
        close: () =>
          new Promise<void>((resolve) => {
            longConnection.close();
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      };
    },
  };
  return emulator;
}

export type Emulator = ReturnType<typeof createEmulator>;

/** What a tenant did with a marketplace app (app_open, app_status_change's statuses, app_uninstalled). */
export type LifecycleChange =
  | 'app_open'
  | 'start_by_tenant'
  | 'stop_by_tenant'
  | 'stop_by_platform'
  | 'app_uninstalled';

function messageData(m: Message) {
  return {
    message_id: m.messageId,
    chat_id: m.chatId,
    msg_type: m.msgType,
    create_time: String(m.history[0]?.at ?? Date.now()),
    update_time: String(m.history.at(-1)?.at ?? Date.now()),
    deleted: false,
    updated: m.history.length > 1,
    sender: { id: m.appId, id_type: 'app_id', sender_type: 'app', tenant_key: m.tenantKey },
    body: { content: m.content },
  };
}

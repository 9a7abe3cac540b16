// feishu: every outbound Open Platform call goes through the official SDK client, reached by tenant.
import * as lark from '@larksuiteoapi/node-sdk';
import { type Logger, scrubText } from '../log.js';
import type { Store } from '../store/index.js';
import { AppTickets } from './app-ticket.js';
import { cacheKey, marketTokenKey, StoreCache } from './credentials.js';
import { openPlatformHttp } from './http-transport.js';

/** Tenant access tokens, dropped on 99991663 (the SDK itself never refreshes a rejected token). */
function tokenCache(): lark.Cache & { clear(): void } {
  const values = new Map<string, { value: unknown; expiresAt: number }>();
  const keyOf = (key: unknown, namespace?: string) => `${namespace ?? ''}/${String(key)}`;
  return {
    async set(key, value, expiredTime, options) {
      values.set(keyOf(key, options?.namespace), {
        value,
        expiresAt: expiredTime ?? Number.POSITIVE_INFINITY,
      });
      return true;
    },
    async get(key, options) {
      const entry = values.get(keyOf(key, options?.namespace));
      return entry && entry.expiresAt >= Date.now() ? entry.value : undefined;
    },
    clear: () => values.clear(),
  };
}

/** Getting and dropping the token of the tenant a call is made for. */
export interface TokenScope {
  /**
   * Resolves once a token is at hand for the tenant (with it, where the gateway manages it); rejects
   * (retryably) when none can be had yet.
   */
  ready(): Promise<string | undefined>;
  /**
   * Drops the tenant's token (Feishu refused it), so the next call fetches a fresh one. Given the token
   * that was refused, it is dropped only if it is still the stored one: when several calls are refused at
   * once, the first one's refresh is not thrown away by the others.
   */
  invalidate(refused?: string): Promise<void>;
  /** Told of every call made in this scope (metrics). */
  readonly onCall: (api: string, error: OpenApiError | undefined, startedMs: number) => void;
}

/** What the workflow needs to call the Open Platform for one tenant. */
export interface TenantClient extends TokenScope {
  readonly tenantKey: string;
  readonly client: lark.Client;
  /** Per-call options: `lark.withTenantKey(tenantKey)` for marketplace apps, nothing for self-built ones. */
  readonly options: ReturnType<typeof lark.withTenantKey> | undefined;
}

export interface FeishuClientsConfig {
  readonly appId: string;
  readonly appSecret: string;
  readonly domain: string;
  /** One call's timeout (default FEISHU_TIMEOUT_MS_DEFAULT); the outbox keeps a job's lease longer. */
  readonly timeoutMs?: number | undefined;
  /** Told of every call callOpenApi makes: its API, its error (none on success), its start (performance.now). */
  readonly onCall?: (api: string, error: OpenApiError | undefined, startedMs: number) => void;
  /** Default self_built. */
  readonly appType?: 'self_built' | 'marketplace';
  /** marketplace: the vendor's own tenant, where staff cards go. */
  readonly staffTenantKey?: string | undefined;
}

export interface FeishuClientsDeps {
  /** marketplace: where the app_ticket and the tenant tokens are kept for every replica. */
  readonly store?: Store;
  readonly now?: () => number;
}

/**
 * A marketplace call the SDK would have sent without `Authorization` (it had no ticket): never sent. It is
 * retried later, unless it can never get a token (`permanent`: no tenant to get one for).
 */
export class NoTokenError extends Error {
  readonly noToken = true;
  constructor(
    message: string,
    readonly permanent = false,
  ) {
    super(message);
  }
}

export const FEISHU_TIMEOUT_MS_DEFAULT = 15_000;

/**
 * The one accessor for SDK clients. Self-built: one client and one token for every call. Marketplace: one
 * `AppType.ISV` client whose calls carry `lark.withTenantKey(tenantKey)`, a token per tenant in the shared
 * store, fetched once at a time per tenant, dropped for that tenant alone when Feishu refuses it.
 */
export class FeishuClients implements TokenScope {
  readonly #memoryCache = tokenCache();
  readonly #client: lark.Client;
  readonly #config: FeishuClientsConfig;
  readonly #log: Logger;
  readonly #storeCache: StoreCache | undefined;
  readonly #inflight = new Map<string, Promise<string>>();
  /** marketplace only. */
  readonly tickets: AppTickets | undefined;
  readonly onCall: NonNullable<FeishuClientsConfig['onCall']>;

  constructor(config: FeishuClientsConfig, log: Logger, deps: FeishuClientsDeps = {}) {
    this.#config = config;
    this.#log = log;
    this.onCall = config.onCall ?? (() => undefined);
    // Not the SDK's default axios instance: it waits forever (an outbox job must not) and costs more CPU.
    const http = openPlatformHttp({ timeoutMs: config.timeoutMs ?? FEISHU_TIMEOUT_MS_DEFAULT });
    // The SDK logs failed requests with what they were sent with (a token request's body carries the app
    // secret): keep only the fact that something failed, never its arguments.
    const quiet = {
      error: () => log.debug('feishu sdk reported an error (details withheld: they may contain tokens)'),
      warn: () => undefined,
      info: () => undefined,
      debug: () => undefined,
      trace: () => undefined,
    };
    const common = {
      appId: config.appId,
      appSecret: config.appSecret,
      domain: config.domain,
      logger: quiet,
      loggerLevel: lark.LoggerLevel.error,
    };
    if (config.appType !== 'marketplace') {
      this.#client = new lark.Client({
        ...common,
        appType: lark.AppType.SelfBuild,
        cache: this.#memoryCache,
        httpInstance: http,
      });
      return;
    }
    if (!deps.store) throw new Error('a marketplace app keeps its app_ticket and tokens in the store');
    const now = deps.now ?? Date.now;
    this.#storeCache = new StoreCache(deps.store, now);
    const resend = async () => {
      const body = (await http.post(`${config.domain}/open-apis/auth/v3/app_ticket/resend`, {
        app_id: config.appId,
        app_secret: config.appSecret,
      })) as { code?: number } | undefined;
      return body?.code;
    };
    this.tickets = new AppTickets(
      config,
      this.#storeCache,
      log.child({ component: 'app_ticket' }),
      resend,
      now,
    );
    this.#client = new lark.Client({
      ...common,
      appType: lark.AppType.ISV,
      cache: this.#storeCache,
      httpInstance: guardedTransport(this.tickets, http),
    });
  }

  get marketplace(): boolean {
    return this.#storeCache !== undefined;
  }

  /** The client for calls made for a customer tenant (its exams, accounts, papers, fields, name). */
  forTenant(tenantKey: string): TenantClient {
    if (!this.#storeCache) {
      return {
        tenantKey,
        client: this.#client,
        options: undefined,
        ready: () => this.ready(),
        invalidate: () => this.invalidate(),
        onCall: this.onCall,
      };
    }
    return {
      tenantKey,
      client: this.#client,
      options: lark.withTenantKey(tenantKey),
      onCall: this.onCall,
      ready: () => this.#tenantToken(tenantKey),
      invalidate: async (refused) => {
        const dropped = await this.#storeCache?.delete(
          cacheKey(marketTokenKey(tenantKey), this.#config.appId),
          refused,
        );
        if (dropped)
          this.#log.info({ tenantKey }, 'tenant access token refused by Feishu: dropped for this tenant');
      },
    };
  }

  /** The client for the staff chat: the vendor's own tenant (marketplace), the app's tenant (self-built). */
  forStaff(): TenantClient {
    return this.forTenant(this.#config.staffTenantKey ?? '');
  }

  /** Self-built: nothing to prepare, the SDK fetches the one token with the app secret. */
  async ready(): Promise<undefined> {
    return undefined;
  }

  /** Self-built: drops the cached token so the next call fetches a fresh one. */
  async invalidate(): Promise<void> {
    this.#memoryCache.clear();
  }

  /** One fetch at a time per tenant in this process; concurrent jobs for the tenant wait for it. */
  async #tenantToken(tenantKey: string): Promise<string> {
    const cache = this.#storeCache as StoreCache;
    const stored = await cache.read(cacheKey(marketTokenKey(tenantKey), this.#config.appId));
    if (typeof stored?.value === 'string') return stored.value;
    let flight = this.#inflight.get(tenantKey);
    if (!flight) {
      flight = this.#fetchTenantToken(tenantKey).finally(() => this.#inflight.delete(tenantKey));
      this.#inflight.set(tenantKey, flight);
    }
    return flight;
  }

  async #fetchTenantToken(tenantKey: string): Promise<string> {
    const tickets = this.tickets as AppTickets;
    if (!tenantKey) throw new NoTokenError('a marketplace call needs the tenant it is made for', true);
    if (!(await tickets.ensure('a tenant token is needed and no app_ticket is stored')))
      throw new NoTokenError('no app_ticket yet: asked Feishu to push one; the call waits for it');
    // Across replicas: the one that claims the tenant's refresh fetches; the others wait for its token a
    // moment (and fetch themselves if it never comes: that replica may have died).
    const cache = this.#storeCache as StoreCache;
    const tokenKey = cacheKey(marketTokenKey(tenantKey), this.#config.appId);
    const refreshKey = `${this.#config.appId}/token-refresh/${tenantKey}`;
    if (!(await cache.claimSlot(refreshKey, REFRESH_CLAIM_MS))) {
      for (let waited = 0; waited < REFRESH_WAIT_MS; waited += 50) {
        await new Promise((r) => setTimeout(r, 50));
        const fetched = await cache.read(tokenKey);
        if (typeof fetched?.value === 'string') return fetched.value;
      }
    }
    try {
      // Another replica may have finished its refresh between our miss and our claim.
      const fetched = await cache.read(tokenKey);
      if (typeof fetched?.value === 'string') return fetched.value;
      return await this.#exchange(tenantKey);
    } finally {
      await cache.delete(refreshKey).catch(() => undefined);
    }
  }

  async #exchange(tenantKey: string): Promise<string> {
    const tickets = this.tickets as AppTickets;
    let token: unknown;
    const ticket = await tickets.current();
    try {
      // The SDK's own exchange (app_ticket → app_access_token → tenant_access_token), cached by it in the
      // store under its own key; `withTenantKey(...).lark` is the parameter object it reads the tenant from.
      const manager = (this.#client as unknown as { tokenManager: TokenManagerLike }).tokenManager;
      token = await manager.getTenantAccessToken(lark.withTenantKey(tenantKey).lark);
    } catch (err) {
      if (feishuCodeOf(err) === APP_TICKET_INVALID)
        await tickets.discard('Feishu answered 10012 (stale app_ticket)', ticket);
      throw err;
    }
    if (typeof token !== 'string' || !token)
      throw new NoTokenError('no app_ticket yet: asked Feishu to push one; the call waits for it');
    this.#log.info({ tenantKey }, 'tenant access token fetched');
    return token;
  }
}

/** How long one replica's claim on a tenant's refresh holds, and how long the others wait for its token. */
const REFRESH_CLAIM_MS = 10_000;
const REFRESH_WAIT_MS = 3_000;

interface TokenManagerLike {
  getTenantAccessToken(params: unknown): Promise<string | undefined>;
}

/** 10012 "get app access token fail": the Go SDK's errCodeAppTicketInvalid. */
const APP_TICKET_INVALID = 10012;

/** The Feishu code in an SDK error: an HTTP error's body, or the token manager's "code: N" message. */
function feishuCodeOf(err: unknown): number | undefined {
  const e = err as { response?: { data?: { code?: unknown } }; message?: string };
  const fromBody = e.response?.data?.code;
  if (typeof fromBody === 'number') return fromBody;
  const fromMessage = /code[^0-9]*(\d{5,})/i.exec(e.message ?? '')?.[1];
  return fromMessage ? Number(fromMessage) : undefined;
}

/**
 * The SDK's transport for a marketplace client, with two rules the SDK lacks: (1) an Open Platform call
 * without `Authorization` is refused before it leaves (the SDK sends one when it had no ticket, and Feishu
 * would answer 99991661); (2) the SDK's own `app_ticket/resend` calls go through AppTickets' once-a-minute
 * limit. Everything else goes to `http` as it is.
 */
function guardedTransport(tickets: AppTickets, http: lark.HttpInstance): lark.HttpInstance {
  const isResend = (url: string | undefined) =>
    url?.includes('/open-apis/auth/v3/app_ticket/resend') ?? false;
  const needsToken = (url: string | undefined) =>
    (url ?? '').includes('/open-apis/') && !(url ?? '').includes('/open-apis/auth/');
  const hasToken = (headers: Record<string, unknown> | undefined) =>
    Object.entries(headers ?? {}).some(([k, v]) => k.toLowerCase() === 'authorization' && Boolean(v));
  return {
    request: (opts) => {
      if (needsToken(opts.url) && !hasToken(opts.headers))
        return Promise.reject(new NoTokenError('no tenant token: the call was not sent'));
      return http.request(opts);
    },
    get: (url, opts) => http.get(url, opts),
    delete: (url, opts) => http.delete(url, opts),
    head: (url, opts) => http.head(url, opts),
    options: (url, opts) => http.options(url, opts),
    post: (url, data, opts) => {
      if (isResend(url))
        return tickets.requestResend('the SDK found no app_ticket').then(() => ({ code: 0 }) as never);
      return http.post(url, data, opts);
    },
    put: (url, data, opts) => http.put(url, data, opts),
    patch: (url, data, opts) => http.patch(url, data, opts),
  };
}

/** `no_token`: a marketplace call that could not get its tenant's token yet (no app_ticket): retried later. */
export type OpenApiFailure = 'token_invalid' | 'no_token' | 'rate_limited' | 'unavailable' | 'rejected';

/** A failed Open Platform call, classified for the outbox: retry later, refresh the token, or give up. */
export class OpenApiError extends Error {
  constructor(
    readonly api: string,
    readonly failure: OpenApiFailure,
    readonly status: number | undefined,
    readonly code: number | undefined,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(`${api}: ${message}`);
    this.name = 'OpenApiError';
  }

  get retryable(): boolean {
    return this.failure !== 'rejected';
  }
}

/**
 * 99991661 no token, 99991663 tenant token invalid or expired, 99991664 app token invalid, 99991665 tenant
 * token illegal ("invalid tenant code"), 99991671 token malformed, 99991668 user token invalid (generic error
 * codes): a fresh token may fix each of them.
 */
const TOKEN_CODES = new Set([99991661, 99991663, 99991664, 99991665, 99991671, 99991668]);
/**
 * 99991400 the Open Platform's frequency limit; the IM APIs' own limits, answered with HTTP 400: 230020 "This
 * operation triggers the frequency limit" (message create and patch), 11232 / 11233 / 11247 create-message
 * limits (generic error codes).
 */
const RATE_LIMIT_CODES = new Set([99991400, 230020, 11232, 11233, 11247]);
/** 10012 app access token failed (stale app_ticket: a new one is asked for), 10013 tenant token failed. */
const TOKEN_FETCH_CODES = new Set([10012, 10013]);
/**
 * Codes whose docs say "try again later", whatever the HTTP status they come with: 1002001 Hire 系统错误
 * (the eco APIs' error tables), 230049 "The message is being sent" and 18121 "create request is being
 * processed" (a create with the same uuid still in flight).
 */
const TRY_LATER_CODES = new Set([1002001, 230049, 18121]);
/**
 * The app is stopped or not installed in the tenant (generic error codes: 10014 应用状态不可用，检查应用是否停用,
 * 99991662 检查该应用是否处于停用状态, 11210 应用在当前租户下未安装, 20009 应用在当前租户未安装). A customer that
 * stops the app has its jobs wait (outbox OPEN_TENANT) once its app_status_change arrives; a job that ran
 * before, on a token still cached, was buried as refused, and its login info or result never reached Hire after
 * the customer started the app again. Retried, as the same codes on a token request already were.
 */
const APP_UNAVAILABLE_CODES = new Set([10014, 99991662, 11210, 20009]);

interface ApiBody {
  code?: number;
  msg?: string;
  data?: unknown;
}

/**
 * Calls one Open Platform API and returns its `data`. Feishu can answer HTTP 200 with `code ≠ 0`, and the
 * SDK throws on other statuses: both are turned into an OpenApiError. The token of the scope's tenant is
 * made ready first; on an invalid token that tenant's token is dropped and the call is made once more at
 * once, as Feishu's docs advise.
 */
export async function callOpenApi<T>(
  scope: TokenScope,
  api: string,
  call: () => Promise<ApiBody | undefined>,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    let token: string | undefined;
    const started = performance.now();
    const outcome = await settle(api, async () => {
      token = await scope.ready();
      return call();
    });
    scope.onCall(api, outcome.ok ? undefined : outcome.error, started);
    if (outcome.ok) return outcome.data as T;
    if (outcome.error.failure === 'token_invalid' && attempt === 0) {
      await scope.invalidate(token);
      continue;
    }
    throw outcome.error;
  }
}

async function settle(api: string, call: () => Promise<ApiBody | undefined>) {
  try {
    const body = await call();
    if (body && (body.code === 0 || body.code === undefined)) return { ok: true as const, data: body.data };
    return { ok: false as const, error: classify(api, 200, body?.code, body?.msg, undefined) };
  } catch (err) {
    if (err instanceof NoTokenError)
      return {
        ok: false as const,
        error: new OpenApiError(
          api,
          err.permanent ? 'rejected' : 'no_token',
          undefined,
          undefined,
          err.message,
        ),
      };
    const e = err as {
      response?: { status?: number; data?: ApiBody; headers?: Record<string, string>; path?: string };
      message?: string;
    };
    if (!e.response) {
      // The token fetch itself failed with a Feishu code (the SDK throws a plain Error naming it).
      const tokenCode = /code[^0-9]*(\d{5,})/i.exec(e.message ?? '')?.[1];
      if (tokenCode)
        return {
          ok: false as const,
          error: classify(api, undefined, Number(tokenCode), e.message, undefined),
        };
      return {
        ok: false as const,
        error: new OpenApiError(
          api,
          'unavailable',
          undefined,
          undefined,
          'no answer (network error or timeout)',
        ),
      };
    }
    const failed = classify(
      api,
      e.response.status,
      e.response.data?.code,
      e.response.data?.msg,
      retryAfterOf(e.response.headers),
    );
    // The SDK fetches the token inside the call: a 4xx from an auth endpoint refused the token (credentials,
    // ticket, tenant), not this call, which was never sent; like a token refusal answered with HTTP 200
    // (thrown as "failed to get …, code: N" above), it is retried, not buried.
    if (failed.failure === 'rejected' && e.response.path?.startsWith('/open-apis/auth/'))
      return {
        ok: false as const,
        error: new OpenApiError(
          api,
          'unavailable',
          failed.status,
          failed.code,
          `getting a token failed: ${failed.message.slice(api.length + 2)}`,
        ),
      };
    return { ok: false as const, error: failed };
  }
}

/**
 * When the far side asked to be called again, in ms from now: Feishu's `x-ogw-ratelimit-reset` (seconds until
 * the limit resets, its rate-limit doc), else a standard `Retry-After` (seconds, or an HTTP date) that a proxy
 * or load balancer in front of the Open Platform may send with a 429 or 503.
 */
function retryAfterOf(headers: Record<string, unknown> | undefined): number | undefined {
  const header = (name: string) => {
    const value = headers?.[name];
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  };
  const reset = header('x-ogw-ratelimit-reset');
  if (reset !== undefined && Number.isFinite(Number(reset)) && Number(reset) >= 0)
    return Number(reset) * 1000;
  const retryAfter = header('retry-after');
  if (retryAfter === undefined) return undefined;
  if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
  const at = Date.parse(retryAfter);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function classify(
  api: string,
  status: number | undefined,
  code: number | undefined,
  msg: string | undefined,
  retryAfterMs: number | undefined,
) {
  // Feishu's msg may repeat what it refused (the token request's app secret, a body's password, the bearer
  // token): the message is logged and kept on the job, so it is scrubbed here, at its source.
  const what = `HTTP ${status ?? '-'} code ${code ?? '-'}${msg ? ` (${scrubText(msg).slice(0, 200)})` : ''}`;
  if (code !== undefined && TOKEN_CODES.has(code))
    return new OpenApiError(api, 'token_invalid', status, code, what);
  if (
    code !== undefined &&
    (TOKEN_FETCH_CODES.has(code) || TRY_LATER_CODES.has(code) || APP_UNAVAILABLE_CODES.has(code))
  )
    return new OpenApiError(api, 'unavailable', status, code, what);
  if ((code !== undefined && RATE_LIMIT_CODES.has(code)) || status === 429)
    return new OpenApiError(api, 'rate_limited', status, code, what, retryAfterMs);
  if (status === undefined || status >= 500)
    return new OpenApiError(api, 'unavailable', status, code, what, retryAfterMs);
  return new OpenApiError(api, 'rejected', status, code, what);
}

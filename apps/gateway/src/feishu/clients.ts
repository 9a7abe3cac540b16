// feishu: every outbound Open Platform call goes through the official SDK client, reached by tenant.
import * as lark from '@larksuiteoapi/node-sdk';
import type { Logger } from '../log.js';

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

/** What the workflow needs to call the Open Platform for one tenant. */
export interface TenantClient {
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
}

export const FEISHU_TIMEOUT_MS_DEFAULT = 15_000;

/**
 * The one accessor for SDK clients. A self-built app has one client for every tenant; a marketplace app
 * would return the same client with `lark.withTenantKey(tenantKey)` options, without touching callers.
 */
export class FeishuClients {
  readonly #cache = tokenCache();
  readonly #client: lark.Client;
  readonly onCall: NonNullable<FeishuClientsConfig['onCall']>;

  constructor(config: FeishuClientsConfig, log: Logger) {
    this.onCall = config.onCall ?? (() => undefined);
    // The SDK's default axios instance waits forever; an outbox job must not.
    lark.defaultHttpInstance.defaults.timeout = config.timeoutMs ?? FEISHU_TIMEOUT_MS_DEFAULT;
    // The SDK logs failed requests with their axios config, which carries the bearer token: keep only
    // the fact that something failed, never its arguments.
    const quiet = {
      error: () => log.debug('feishu sdk reported an error (details withheld: they may contain tokens)'),
      warn: () => undefined,
      info: () => undefined,
      debug: () => undefined,
      trace: () => undefined,
    };
    this.#client = new lark.Client({
      appId: config.appId,
      appSecret: config.appSecret,
      domain: config.domain,
      appType: lark.AppType.SelfBuild,
      cache: this.#cache,
      logger: quiet,
      loggerLevel: lark.LoggerLevel.error,
    });
  }

  forTenant(_tenantKey: string): TenantClient {
    return { client: this.#client, options: undefined };
  }

  /** Drops cached tokens so the next call fetches a fresh one. */
  invalidateTokens(): void {
    this.#cache.clear();
  }
}

export type OpenApiFailure = 'token_invalid' | 'rate_limited' | 'unavailable' | 'rejected';

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

const TOKEN_CODES = new Set([99991661, 99991663, 99991664, 99991671, 99991668]);
const RATE_LIMIT_CODE = 99991400;

interface ApiBody {
  code?: number;
  msg?: string;
  data?: unknown;
}

/**
 * Calls one Open Platform API and returns its `data`. Feishu can answer HTTP 200 with `code ≠ 0`, and the
 * SDK throws on other statuses: both are turned into an OpenApiError. On an invalid token the cache is
 * dropped and the call is made once more at once, as Feishu's docs advise.
 */
export async function callOpenApi<T>(
  clients: FeishuClients,
  api: string,
  call: () => Promise<ApiBody | undefined>,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const started = performance.now();
    const outcome = await settle(api, call);
    clients.onCall(api, outcome.ok ? undefined : outcome.error, started);
    if (outcome.ok) return outcome.data as T;
    if (outcome.error.failure === 'token_invalid' && attempt === 0) {
      clients.invalidateTokens();
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
    const e = err as {
      response?: { status?: number; data?: ApiBody; headers?: Record<string, string> };
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
    const reset = Number(e.response.headers?.['x-ogw-ratelimit-reset']);
    return {
      ok: false as const,
      error: classify(
        api,
        e.response.status,
        e.response.data?.code,
        e.response.data?.msg,
        Number.isFinite(reset) ? reset * 1000 : undefined,
      ),
    };
  }
}

function classify(
  api: string,
  status: number | undefined,
  code: number | undefined,
  msg: string | undefined,
  retryAfterMs: number | undefined,
) {
  const what = `HTTP ${status ?? '-'} code ${code ?? '-'}${msg ? ` (${msg.slice(0, 200)})` : ''}`;
  if (code !== undefined && TOKEN_CODES.has(code))
    return new OpenApiError(api, 'token_invalid', status, code, what);
  if (code === RATE_LIMIT_CODE || status === 429)
    return new OpenApiError(api, 'rate_limited', status, code, what, retryAfterMs);
  if (status === undefined || status >= 500) return new OpenApiError(api, 'unavailable', status, code, what);
  return new OpenApiError(api, 'rejected', status, code, what);
}

// http: the Koa app and its routes. createApp builds without listening, so tests and main share it.
import Router from '@koa/router';
import Koa from 'koa';
import type { LongConnectionStatus } from '../feishu/long-connection.js';
import type { Logger } from '../log.js';
import type { JobHealth } from '../outbox/jobs.js';
import type { Readiness } from '../store/readiness.js';
import { type AdminDeps, mountAdmin } from './admin.js';
import { type MetricsEndpointDeps, mountMetrics } from './metrics.js';
import { type ProviderWebhookDeps, providerWebhookHandler } from './provider-webhook.js';
import { type WebhookDeps, webhookHandler } from './webhook.js';

export interface AppDeps extends WebhookDeps {
  readonly log: Logger;
  /** False while starting or shutting down: /readyz answers 503 so a load balancer drains us. */
  readonly isReady: () => boolean;
  /** Can the database take writes, within a deadline? And the jobs' health. Checked by /readyz. */
  readonly readiness: () => Promise<Readiness<JobHealth>>;
  readonly admin: AdminDeps;
  /** With FEISHU_TRANSPORT=websocket: the long connection's state, which /readyz reports and requires. */
  readonly feishuConnection?: (() => LongConnectionStatus) | undefined;
  /** Absent: no provider result webhooks (tests that need none). */
  readonly providerWebhook?: ProviderWebhookDeps | undefined;
  /** Absent: no /metrics route at all (tests that build the app alone). */
  readonly metrics?: MetricsEndpointDeps | undefined;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.proxy = true;
  const router = new Router();

  // Without a token or key (allowed only with the long connection) nobody could tell Feishu's posts apart.
  const webhook =
    deps.secrets.encryptKey || deps.secrets.verificationToken ? webhookHandler(deps) : undefined;
  if (webhook) for (const path of FEISHU_WEBHOOK_PATHS) router.post(path, webhook);
  if (deps.providerWebhook)
    router.post('/webhook/provider/:providerId', providerWebhookHandler(deps.providerWebhook));
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  // Ready: started, not shutting down, and the database takes a write within the probe's deadline. Dead and
  // long-pending jobs are reported in the body but never make us unready: a load balancer draining every
  // replica would not bring a failing Open Platform back, and would stop the exam events too.
  router.get('/readyz', async (ctx) => {
    const started = deps.isReady();
    const probe: Readiness<JobHealth> = started ? await deps.readiness() : { database: 'timeout' };
    const connection = deps.feishuConnection?.();
    const ready = started && probe.database === 'ok' && (connection?.ready ?? true);
    ctx.status = ready ? 200 : 503;
    ctx.body = {
      status: ready ? 'ready' : 'not_ready',
      database: started ? probe.database : 'not_checked',
      ...(connection
        ? { feishu_connection: { state: connection.state, down_for_ms: connection.downForMs } }
        : {}),
      ...(probe.error ? { database_error: probe.error } : {}),
      ...(probe.report ? { jobs: probe.report } : {}),
    };
  });
  mountAdmin(router, deps.admin);
  if (deps.metrics) mountMetrics(router, deps.metrics);

  app.use(requestBoundary(deps.log, deps.isReady));
  if (webhook) app.use(feishuPushes(webhook));
  app.use(router.routes());
  app.use(methodNotAllowed);
  app.use(router.allowedMethods());
  app.use((ctx) => {
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.status = 404;
      ctx.body = { code: 'not_found', message: `no route for ${ctx.method} ${ctx.path}` };
    }
  });
  // Koa's own error event would print the error with its default reporter; the boundary logs instead.
  app.silent = true;
  return app;
}

/** Where Feishu posts its pushes: events (the Event Subscriptions URL) and card clicks (the card request URL). */
const FEISHU_WEBHOOK_PATHS: ReadonlySet<string> = new Set(['/webhook/event', '/webhook/card']);

/**
 * Feishu's pushes, matched by their exact paths ahead of the router. @koa/router matches a request against
 * every route and composes the matched handlers anew for each request: on the push, the request the gateway
 * serves thousands of times a second, that cost 7 % of the main thread (BENCHMARKS.md, session 16). The router
 * keeps the two routes as well, so that a GET on them is answered 405 as on any route, and a path the router
 * would also take (a trailing slash, other letter case) still reaches the same handler.
 */
function feishuPushes(webhook: Koa.Middleware): Koa.Middleware {
  return (ctx, next) =>
    ctx.method === 'POST' && FEISHU_WEBHOOK_PATHS.has(ctx.path) ? webhook(ctx, next) : next();
}

/**
 * The router's allowedMethods answers a known path with the wrong method (405) or an unknown method (501),
 * after the 404 handler below it has written its body: that body is replaced by one that says so.
 */
const methodNotAllowed: Koa.Middleware = async (ctx, next) => {
  await next();
  if (ctx.status === 405)
    ctx.body = {
      code: 'method_not_allowed',
      message: `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('allow')}`,
    };
  else if (ctx.status === 501)
    ctx.body = { code: 'not_implemented', message: `the method ${ctx.method} is not supported` };
};

/**
 * Around every request, in one middleware (one layer less per push than three; BENCHMARKS.md, session 15):
 * - an unexpected error is logged and becomes a 500 with a JSON body, never a leaked stack;
 * - one access line per request. An accepted push is logged at debug here: its handler writes the line that
 *   says what it was (the exam, the click, the account) at info, and one line per push is enough at the rate
 *   Feishu can push. Probes and scrapes come every few seconds: a line each would drown the log;
 * - shutting down, every answer closes its connection (the request in flight when SIGTERM came included):
 *   kept alive, a connection would bring more requests after the shutdown began, and hold server.close()
 *   until it idled for the keep-alive timeout, or under a steady stream until the 10 s bound.
 */
function requestBoundary(log: Logger, isReady: () => boolean): Koa.Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
      logRequest(log, ctx, started);
    } catch (err) {
      log.error({ err, method: ctx.method, path: ctx.path }, 'unhandled error in request');
      ctx.status = 500;
      ctx.body = { code: 'internal_error', message: 'internal error; see the gateway log' };
    }
    if (!isReady()) ctx.set('connection', 'close');
  };
}

function logRequest(log: Logger, ctx: Koa.Context, started: number): void {
  const path = ctx.path;
  if (path === '/healthz' || path === '/readyz') return;
  if (path === '/metrics' && ctx.status === 200) return;
  const accepted = ctx.status === 200 && path.startsWith('/webhook/');
  if (accepted && !log.isLevelEnabled('debug')) return;
  const code = (ctx.body as { code?: unknown } | undefined)?.code;
  log[accepted ? 'debug' : 'info'](
    {
      method: ctx.method,
      path,
      status: ctx.status,
      ms: Math.round((performance.now() - started) * 100) / 100,
      ...(typeof code === 'string' ? { code } : {}),
    },
    'request',
  );
}

// http: the Koa app and its routes, and the server's request listener that serves Feishu's pushes ahead of it. createApp
// builds without listening, so tests and main share it.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import type { LongConnectionStatus } from '../feishu/long-connection.js';
import type { Logger } from '../log.js';
import type { JobHealth } from '../outbox/jobs.js';
import type { Readiness } from '../store/readiness.js';
import { type AdminDeps, mountAdmin } from './admin.js';
import { type MetricsEndpointDeps, mountMetrics } from './metrics.js';
import { type ProviderWebhookDeps, providerWebhookHandler } from './provider-webhook.js';
import type { JsonAnswer } from './raw-body.js';
import { answerWebhook, JSON_TYPE, type WebhookDeps, webhookHandler } from './webhook.js';

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
  if (webhookEnabled(deps)) {
    const webhook = webhookHandler(deps);
    for (const path of FEISHU_WEBHOOK_PATHS) router.post(path, webhook);
  }
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
 * The HTTP server's request listener. Feishu's pushes, posted to their exact paths, are served here without
 * Koa; every other request (and a push to a path only the router takes: a trailing slash, other letter case)
 * goes to the Koa app, whose router holds the two routes too (so a GET on them is a 405, as on any route).
 *
 * Why: the push is the request the gateway serves thousands of times a second, and Koa's work per request
 * (a context of three objects, listeners for the response's end, the middleware chain, the router's match and
 * compose) cost it 7 % of the main thread per push, and the issue's prototype 12–25 % (BENCHMARKS.md, session 16).
 * What Koa does for every request is done here for the push: the same answers (JSON, the 413's close), the
 * error boundary, the access line, and the close while shutting down.
 */
export function requestListener(app: Koa, deps: AppDeps): RequestListener {
  const koa = app.callback();
  if (!webhookEnabled(deps)) return koa;
  return (req, res) => {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (req.method === 'POST' && FEISHU_WEBHOOK_PATHS.has(path)) void servePush(req, res, path, deps);
    else void koa(req, res);
  };
}

async function servePush(req: IncomingMessage, res: ServerResponse, path: string, deps: AppDeps) {
  const started = performance.now();
  let answer: JsonAnswer;
  let text: string;
  try {
    answer = await answerWebhook(req, deps, path);
    text = JSON.stringify(answer.body);
  } catch (err) {
    // Nothing may escape: this promise has no one to reject to, and the answer is not yet written.
    deps.log.error({ err, method: 'POST', path }, 'unhandled error in request');
    answer = INTERNAL_ERROR;
    text = JSON.stringify(answer.body);
  }
  res.writeHead(answer.status, {
    'content-type': JSON_TYPE,
    'content-length': Buffer.byteLength(text),
    ...(answer.close || !deps.isReady() ? { connection: 'close' } : {}),
  });
  res.end(text);
  logRequest(deps.log, { method: 'POST', path, status: answer.status, body: answer.body }, started);
}

const webhookEnabled = (deps: AppDeps) => Boolean(deps.secrets.encryptKey || deps.secrets.verificationToken);

const INTERNAL_ERROR: JsonAnswer = {
  status: 500,
  body: { code: 'internal_error', message: 'internal error; see the gateway log' },
};

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
    } catch (err) {
      log.error({ err, method: ctx.method, path: ctx.path }, 'unhandled error in request');
      ctx.status = INTERNAL_ERROR.status;
      ctx.body = INTERNAL_ERROR.body;
    }
    if (!isReady()) ctx.set('connection', 'close');
    logRequest(log, { method: ctx.method, path: ctx.path, status: ctx.status, body: ctx.body }, started);
  };
}

/** What the access line says of a request. */
interface Served {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly body: unknown;
}

function logRequest(log: Logger, { method, path, status, body }: Served, started: number): void {
  if (path === '/healthz' || path === '/readyz') return;
  if (path === '/metrics' && status === 200) return;
  const accepted = status === 200 && path.startsWith('/webhook/');
  if (accepted && !log.isLevelEnabled('debug')) return;
  const { code, path: field } = (body as { code?: unknown; path?: unknown } | undefined) ?? {};
  // A push refused (a bad signature, a wrong token, a broken body) is worth a look: warn, as its own line was.
  const refusedPush = status >= 400 && path.startsWith('/webhook/');
  log[accepted ? 'debug' : refusedPush ? 'warn' : 'info'](
    {
      method,
      path,
      status,
      ms: Math.round((performance.now() - started) * 100) / 100,
      ...(typeof code === 'string' ? { code } : {}),
      // A refused push's field at fault (event-core's path), as its warning used to carry.
      ...(typeof field === 'string' ? { field } : {}),
    },
    'request',
  );
}

// GET /metrics: on the main port behind METRICS_TOKEN, and/or on a port of its own (METRICS_PORT) without
// authentication, for a scraper on the private network. Neither set: /metrics answers 404.

import { createServer, type Server } from 'node:http';
import type Router from '@koa/router';
import type { Logger } from '../log.js';
import type { GatewayMetrics } from '../metrics.js';
import { bearerMatches } from './bearer.js';
import { answerClientError, HTTP_SERVER_OPTIONS } from './server-options.js';

export interface MetricsEndpointDeps {
  readonly metrics: GatewayMetrics;
  /** Bearer token for /metrics on the main port; undefined: not served there. */
  readonly token: string | undefined;
  /** The metrics port, when one is configured: the 404 says where /metrics went. */
  readonly port: number | undefined;
}

export function mountMetrics(router: Router, deps: MetricsEndpointDeps): void {
  const { metrics, token } = deps;
  router.get('/metrics', async (ctx) => {
    if (!token) {
      ctx.status = 404;
      ctx.body = {
        code: 'metrics_disabled',
        message:
          deps.port === undefined
            ? 'set METRICS_TOKEN (or METRICS_PORT) to enable /metrics'
            : 'metrics are served on METRICS_PORT; set METRICS_TOKEN to serve them here too',
      };
      return;
    }
    if (!bearerMatches(ctx.get('authorization'), token)) {
      ctx.status = 401;
      ctx.set('www-authenticate', 'Bearer');
      ctx.body = { code: 'unauthorized', message: 'send Authorization: Bearer <METRICS_TOKEN>' };
      return;
    }
    ctx.type = metrics.contentType;
    ctx.body = await metrics.scrape();
  });
}

/** The metrics port: one route, no authentication, bound to HOST like the main port. */
export async function listenForMetrics(
  host: string,
  port: number,
  metrics: GatewayMetrics,
  log: Logger,
): Promise<Server> {
  const server = createServer(HTTP_SERVER_OPTIONS, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'not_found', message: 'this port serves GET /metrics only' }));
      return;
    }
    metrics.scrape().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.error({ err }, 'could not collect the metrics');
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'internal_error', message: 'see the gateway log' }));
      },
    );
  });
  server.on('clientError', answerClientError);
  server.listen({ host, port });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

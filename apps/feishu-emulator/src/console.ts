// The console: a web page (built by Vite from console/ into dist/console) showing the staff chat as the
// gateway's cards render, the Open Platform calls, and buttons for the control API. The page learns of
// changes by server-sent events, so a patched card re-renders without a reload.
import type { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Router from '@koa/router';
import type { Context } from 'koa';

/** What the page starts with: where the gateway is (clicks and pushes go there) and who may click. */
export interface ConsoleSettings {
  gatewayUrl: string | undefined;
  operators: string[];
}

/** The emulator's change feed: `message` (a card posted, patched or replaced) and `call` (an Open Platform call). */
export type ChangeKind = 'message' | 'call';

/** Built next to the compiled server (dist/console); the same path from src/ when tests run the sources. */
const CONSOLE_ROOT = fileURLToPath(new URL('../dist/console/', import.meta.url));
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};
// The page talks only to this emulator (the emulator makes the sealed calls to the gateway).
const CSP = "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
const KEEPALIVE_MS = 15_000;

/**
 * The emulated app's secret (token calls) and exam passwords (login_info) stay off the page, as they stay
 * out of logs; the control API still has them for tests.
 */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      /secret|password/i.test(k) && typeof v === 'string' ? '***' : redact(v),
    ]),
  );
}

interface ConsoleState {
  readonly calls: ReadonlyArray<{ body: unknown }>;
  readonly messages: ReadonlyMap<string, unknown>;
}

export function mountConsole(router: Router, state: ConsoleState, changes: EventEmitter) {
  const settings: ConsoleSettings = { gatewayUrl: undefined, operators: [] };

  const callForPage = (call: { body: unknown }) => ({ ...call, body: redact(call.body) });

  router.get('/_emulator/console/config', (ctx) => {
    ctx.body = settings;
  });
  router.get('/_emulator/events', (ctx) => {
    // Written straight to the socket (Koa does not respond): the stream ends when the page goes away.
    ctx.respond = false;
    const res = ctx.res;
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const send = (event: string, data: unknown) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    // Everything so far first, so a page that (re)connects is in step.
    send('snapshot', {
      settings,
      messages: [...state.messages.values()],
      calls: state.calls.map(callForPage),
    });
    const onMessage = (m: unknown) => send('message', m);
    const onCall = (c: { body: unknown }) => send('call', callForPage(c));
    changes.on('message', onMessage);
    changes.on('call', onCall);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    res.once('close', () => {
      clearInterval(keepalive);
      changes.off('message', onMessage);
      changes.off('call', onCall);
    });
  });
  // The router is not strict about a trailing slash: /console/ comes here too.
  router.get('/console', (ctx) => (ctx.path === '/console' ? ctx.redirect('/console/') : serveStatic(ctx)));
  router.get('/console/{*file}', serveStatic);

  return {
    settings,
    /** Tells the page where the gateway is and which operators to offer. */
    configure(next: Partial<ConsoleSettings>) {
      if (next.gatewayUrl !== undefined) settings.gatewayUrl = next.gatewayUrl;
      if (next.operators !== undefined) settings.operators = [...next.operators];
    },
  };
}

async function serveStatic(ctx: Context) {
  const relative = decodeURIComponent(ctx.path.slice('/console/'.length)) || 'index.html';
  const file = resolve(CONSOLE_ROOT, relative);
  if (!file.startsWith(CONSOLE_ROOT.endsWith(sep) ? CONSOLE_ROOT : CONSOLE_ROOT + sep)) {
    ctx.status = 404;
    return;
  }
  try {
    ctx.body = await readFile(file);
  } catch {
    ctx.status = relative === 'index.html' ? 503 : 404;
    ctx.type = 'text/plain';
    ctx.body =
      relative === 'index.html' ? 'the console is not built: run pnpm build' : `no such file: ${relative}`;
    return;
  }
  ctx.type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
  ctx.set('content-security-policy', CSP);
  ctx.set('x-content-type-options', 'nosniff');
  // Vite names assets by their hash: they never change; the page itself may.
  ctx.set(
    'cache-control',
    relative.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
  );
}

import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';

export type RawBodyResult =
  | { ok: true; body: Buffer }
  | { ok: false; reason: 'too_large'; bytes: number }
  | { ok: false; reason: 'aborted' };

/**
 * Reads the request body as bytes, untouched: the signature is computed over exactly these bytes, so no
 * body parser may run first. Past the limit it stops keeping data but keeps draining (so the client
 * gets the 413 instead of a reset), up to a hard cap: past it (or announced past it) it answers at once, and
 * the caller's 413 must say `Connection: close` (unreadBody), which ends the socket once it is written.
 * Destroying the request here instead dropped the connection without any answer.
 */
export function readRawBody(req: IncomingMessage, limit: number): Promise<RawBodyResult> {
  const declared = Number(req.headers['content-length']);
  const hardCap = limit * 8;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const settle = (result: RawBodyResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    if (Number.isFinite(declared) && declared > hardCap) {
      settle({ ok: false, reason: 'too_large', bytes: declared });
      return;
    }
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= limit) chunks.push(chunk);
      else if (bytes > hardCap) settle({ ok: false, reason: 'too_large', bytes });
    });
    req.on('end', () =>
      settle(
        bytes > limit
          ? { ok: false, reason: 'too_large', bytes }
          : { ok: true, body: Buffer.concat(chunks, bytes) },
      ),
    );
    req.on('error', () => settle({ ok: false, reason: 'aborted' }));
    req.on('close', () => settle({ ok: false, reason: 'aborted' }));
  });
}

/**
 * An HTTP answer with a JSON body, whatever serves the request (Koa, or the push listener: app.ts). `close`
 * asks for the connection to be closed once it is written.
 */
export interface JsonAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly close?: boolean;
}

/**
 * The answer to a body that could not be read: a 400 when it did not arrive whole, the 413 when it is too large
 * (the connection is then closed: the rest of the body is not read).
 */
export function unreadBody(raw: Exclude<RawBodyResult, { ok: true }>, limit: number): JsonAnswer {
  if (raw.reason === 'aborted')
    return {
      status: 400,
      body: { code: 'request_aborted', message: 'the request body did not arrive whole' },
    };
  return {
    status: 413,
    close: true,
    body: { code: 'body_too_large', message: `body_too_large: ${raw.bytes} bytes, the limit is ${limit}` },
  };
}

/** A JsonAnswer given to Koa. */
export function answerWith(ctx: Context, answer: JsonAnswer): void {
  ctx.status = answer.status;
  if (answer.close) ctx.set('connection', 'close');
  ctx.body = answer.body;
}

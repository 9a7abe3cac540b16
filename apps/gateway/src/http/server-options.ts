// http: what both of the gateway's HTTP servers (the main port and the metrics port) are made with.
import { type ServerOptions, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Feishu waits 3 s for an answer; a request that stalls far longer is a client problem, not ours. Node checks
 * these timeouts every connectionsCheckingInterval (30 s by default, which let a slow client hold a connection
 * 30 s past them): once a second.
 */
export const HTTP_SERVER_OPTIONS: ServerOptions = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  connectionsCheckingInterval: 1_000,
};

/**
 * A request Node's parser refused (an unknown method, a malformed or oversized header) or timed out before the
 * app saw it: the gateway's typed JSON error, where Node wrote a bare status.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const started = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || started) {
    socket.destroy();
    return;
  }
  const [status, code] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout']
        : [400, 'bad_request'];
  const body = JSON.stringify({
    code,
    message: `${code}: the request could not be read (${err.code ?? 'parse error'})`,
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

// feishu: the transport the SDK's clients send every Open Platform call through: node:http(s) over kept-alive
// connections, answering exactly as the SDK's default axios instance does, without axios's per-call cost.
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type * as lark from '@larksuiteoapi/node-sdk';

type RequestOptions = lark.HttpRequestOptions<unknown> & {
  /** axios's name; the SDK's generated methods always pass one (qs, `arrayFormat: 'repeat'`). */
  paramsSerializer?: ParamsSerializer | { serialize?: ParamsSerializer } | undefined;
};
type ParamsSerializer = (params: Record<string, unknown>) => string;

/** What a non-2xx answer carries, read by callOpenApi (status, Feishu's code in data, x-ogw-ratelimit-reset). */
export interface OpenPlatformResponse {
  readonly status: number;
  readonly statusText: string;
  readonly data: unknown;
  /** Lower-case names, as node (and axios) give them. */
  readonly headers: IncomingHttpHeaders;
  /** The path that answered (no query): tells a token fetch's refusal from the API call's own. */
  readonly path: string;
}

/**
 * A failed call, shaped as axios's errors are where anything reads them: `response` for an answer that was not
 * 2xx, `code` for one that never came (ECONNREFUSED, ECONNRESET, ECONNABORTED for a timeout). The message
 * names neither headers nor body (the request carries the bearer token, a token request the app secret).
 */
export class OpenPlatformHttpError extends Error {
  readonly status: number | undefined;
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly response?: OpenPlatformResponse,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'OpenPlatformHttpError';
    this.status = response?.status;
  }
}

/** Connections to the Open Platform, kept open between calls (the outbox makes several per exam). */
const keepAlive = { keepAlive: true, maxSockets: 64, maxFreeSockets: 16 };
const agents = { http: new HttpAgent(keepAlive), https: new HttpsAgent(keepAlive) };

/** The SDK's own User-Agent for calls made without one (its token requests), as its axios interceptor sets. */
const SDK_USER_AGENT = `oapi-node-sdk/${
  (createRequire(import.meta.url)('@larksuiteoapi/node-sdk/package.json') as { version: string }).version
}`;

/**
 * The SDK's `httpInstance` over node:http(s). It answers as `lark.defaultHttpInstance` does: the parsed body,
 * or `{ data, headers }` when the SDK asks with `$return_headers`; a non-2xx answer rejects with `response`.
 *
 * Where it differs from axios, on purpose:
 * - `timeoutMs` bounds the whole call (axios's `timeout` is the socket's idle time): a job's lease must
 *   outlast its call.
 * - Redirects are not followed: a 3xx rejects like any other non-2xx and the outbox classifies it as a
 *   refusal. The Open Platform answers its APIs without redirecting, and axios only followed them through
 *   follow-redirects (the gateway had already set `maxRedirects: 0` to skip that wrapper's cost).
 * - No `Accept-Encoding`: Open Platform answers are small JSON, not worth compressing; an answer compressed
 *   anyway (gzip, deflate, br) is still decoded.
 * - Bodies are JSON (objects), strings, buffers or URLSearchParams; form-data and streams (file uploads, which
 *   the gateway does not make) are refused before anything is sent.
 */
export function openPlatformHttp(options: { readonly timeoutMs: number }): lark.HttpInstance {
  const send = (opts: RequestOptions) => sendRequest(opts, options.timeoutMs);
  const withBody = (method: string) => (url: string, data?: unknown, opts?: RequestOptions) =>
    send({ ...opts, url, method, data });
  const withoutBody = (method: string) => (url: string, opts?: RequestOptions) =>
    send({ ...opts, url, method });
  return {
    request: send,
    get: withoutBody('GET'),
    delete: withoutBody('DELETE'),
    head: withoutBody('HEAD'),
    options: withoutBody('OPTIONS'),
    post: withBody('POST'),
    put: withBody('PUT'),
    patch: withBody('PATCH'),
  } as lark.HttpInstance;
}

function sendRequest(opts: RequestOptions, defaultTimeoutMs: number): Promise<never> {
  return new Promise((resolve, reject) => {
    const method = (opts.method ?? 'GET').toUpperCase();
    const url = withQuery(opts.url ?? '', opts.params, opts.paramsSerializer);
    const headers = requestHeaders(opts.headers);
    const body = requestBody(opts.data, method, headers);
    if (body instanceof Error) {
      reject(body);
      return;
    }
    if (body !== undefined)
      headers['Content-Length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    const secure = url.startsWith('https:');
    let settled = false;
    const fail = (err: OpenPlatformHttpError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    };
    let req: ReturnType<typeof httpRequest>;
    try {
      req = (secure ? httpsRequest : httpRequest)(url, {
        method,
        headers,
        agent: secure ? agents.https : agents.http,
      });
    } catch (err) {
      // Node refused the request before sending it (an URL without http(s), a header with a bad character).
      const e = err as NodeJS.ErrnoException;
      reject(
        new OpenPlatformHttpError(`the request was not sent: ${e.message}`, e.code, undefined, { cause: e }),
      );
      return;
    }
    const timeoutMs = opts.timeout || defaultTimeoutMs;
    const timer = setTimeout(() => {
      const err = new OpenPlatformHttpError(`timeout of ${timeoutMs}ms exceeded`, 'ECONNABORTED');
      fail(err);
      req.destroy(err);
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) =>
      fail(new OpenPlatformHttpError(err.message, err.code, undefined, { cause: err })),
    );
    req.on('response', (res) => {
      if (opts.responseType === 'stream' && isSuccess(res.statusCode)) {
        settled = true;
        clearTimeout(timer);
        resolve(answer(opts, res, res) as never);
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err: NodeJS.ErrnoException) =>
        fail(new OpenPlatformHttpError(err.message, err.code ?? 'ECONNRESET', undefined, { cause: err })),
      );
      res.on('end', () => {
        if (settled) return;
        let data: unknown;
        try {
          data = responseData(res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), opts);
        } catch (err) {
          fail(
            new OpenPlatformHttpError('the answer could not be decoded', 'ERR_BAD_RESPONSE', undefined, {
              cause: err,
            }),
          );
          return;
        }
        settled = true;
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        if (isSuccess(status)) {
          resolve(answer(opts, data, res) as never);
          return;
        }
        const response = {
          status,
          statusText: res.statusMessage ?? '',
          data,
          headers: res.headers,
          path: new URL(url).pathname,
        };
        reject(
          new OpenPlatformHttpError(
            `Request failed with status code ${status}`,
            status >= 500 ? 'ERR_BAD_RESPONSE' : 'ERR_BAD_REQUEST',
            response,
          ),
        );
      });
    });
    req.end(body);
  });
}

const isSuccess = (status: number | undefined) => status !== undefined && status >= 200 && status < 300;

/** What the SDK's axios response interceptor returns. */
function answer(opts: RequestOptions, data: unknown, res: IncomingMessage): unknown {
  return opts.$return_headers ? { data, headers: res.headers } : data;
}

/** axios's `buildURL`: the serializer the call names, else axios's own encoding; a `#fragment` is dropped. */
function withQuery(
  url: string,
  params: RequestOptions['params'],
  serializer: RequestOptions['paramsSerializer'],
) {
  if (!params) return url;
  const serialize = typeof serializer === 'function' ? serializer : serializer?.serialize;
  const query = serialize ? serialize(params) : axiosQuery(params);
  if (!query) return url;
  const hash = url.indexOf('#');
  const base = hash === -1 ? url : url.slice(0, hash);
  return `${base}${base.includes('?') ? '&' : '?'}${query}`;
}

/**
 * axios's default params encoding (`AxiosURLSearchParams` with `buildURL`'s `encode`), for the calls that pass
 * no serializer (`client.request`): null and undefined are left out, a flat array is `key[]=a&key[]=b`, an
 * object `key[sub]=v`, a Date its ISO time.
 */
export function axiosQuery(params: Record<string, unknown>): string {
  const pairs: string[] = [];
  const add = (key: string, value: unknown) => pairs.push(`${encodeQuery(key)}=${encodeQuery(leaf(value))}`);
  const visit = (prefix: string, value: unknown) => {
    for (const [key, el] of Object.entries(value as object)) {
      if (el === undefined || el === null) continue;
      const path = `${prefix}[${key.trim()}]`;
      if (isVisitable(el)) visit(path, el);
      else add(path, el);
    }
  };
  for (const [rawKey, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    const key = rawKey.trim();
    if (Array.isArray(value) && !value.some(isVisitable)) {
      for (const el of value) if (el !== undefined && el !== null) add(`${key}[]`, el);
    } else if (isVisitable(value)) visit(key, value);
    else add(key, value);
  }
  return pairs.join('&');
}

function isVisitable(value: unknown): boolean {
  if (Array.isArray(value)) return true;
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

const leaf = (value: unknown) => (value instanceof Date ? value.toISOString() : String(value));

const encodeQuery = (value: string) =>
  encodeURIComponent(value)
    .replace(/%3A/gi, ':')
    .replace(/%24/g, '$')
    .replace(/%2C/gi, ',')
    .replace(/%20/g, '+');

function requestHeaders(given: Record<string, unknown> | undefined): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { Accept: 'application/json, text/plain, */*' };
  let userAgent = false;
  for (const name in given) {
    const value = given[name];
    // axios drops these too, rather than sending "undefined".
    if (value === undefined || value === null || value === false) continue;
    const lower = name.toLowerCase();
    if (lower === 'accept') delete headers.Accept;
    if (lower === 'user-agent') userAgent = true;
    headers[name] = Array.isArray(value) ? value.map(String) : String(value);
  }
  if (!userAgent) headers['User-Agent'] = SDK_USER_AGENT;
  return headers;
}

function hasHeader(headers: OutgoingHttpHeaders, name: string): boolean {
  for (const key in headers) if (key.toLowerCase() === name) return true;
  return false;
}

/**
 * axios's `transformRequest` for the bodies the SDK sends; an Error for the ones this transport does not. Text
 * stays a string: node sends a string body in one write with the headers, a Buffer as a second chunk.
 */
function requestBody(
  data: unknown,
  method: string,
  headers: OutgoingHttpHeaders,
): string | Buffer | undefined | Error {
  if (data === undefined || data === null) return undefined;
  const contentType = (type: string) => {
    if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = type;
  };
  if (typeof data === 'string') {
    if (method === 'POST' || method === 'PUT' || method === 'PATCH')
      contentType('application/x-www-form-urlencoded');
    return data;
  }
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (data instanceof URLSearchParams) {
    contentType('application/x-www-form-urlencoded;charset=utf-8');
    return data.toString();
  }
  if (
    typeof data !== 'object' ||
    data instanceof FormData ||
    data instanceof Blob ||
    typeof (data as { pipe?: unknown }).pipe === 'function'
  )
    return new OpenPlatformHttpError(
      'this request body is not supported by the gateway transport (JSON, text or bytes only)',
      'ERR_NOT_SUPPORT',
    );
  contentType('application/json');
  return JSON.stringify(data);
}

/** axios's `transformResponse`: a body that is not JSON stays a string, as axios leaves it. */
function responseData(res: IncomingMessage, raw: Buffer, opts: RequestOptions): unknown {
  const bytes = decoded(raw, res.headers['content-encoding']);
  if (opts.responseType === 'arraybuffer') return bytes;
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!text || (opts.responseType !== undefined && opts.responseType !== 'json')) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function decoded(raw: Buffer, encoding: string | undefined): Buffer {
  if (raw.length === 0 || !encoding) return raw;
  switch (encoding.toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(raw);
    case 'deflate':
      return inflateSync(raw);
    case 'br':
      return brotliDecompressSync(raw);
    default:
      return raw;
  }
}

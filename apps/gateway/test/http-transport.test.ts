import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import * as lark from '@larksuiteoapi/node-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { callOpenApi, FeishuClients, type OpenApiError } from '../src/feishu/clients.js';
import { OpenPlatformHttpError, openPlatformHttp } from '../src/feishu/http-transport.js';
import { createLogger } from '../src/log.js';
import { classifyFailure } from '../src/outbox/failure.js';

const appSecret = 'transport-test-secret-5c4b3a';
const token = 'tenant-token-7e6d5c';

interface Received {
  method: string | undefined;
  url: string | undefined;
  contentType: string | undefined;
  authorization: string | undefined;
  userAgent: string | undefined;
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const servers: Array<{ close(): void; closeAllConnections(): void }> = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A local server that records what reaches it; by default an Open Platform that answers every call. */
async function platform(handler?: Handler) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      received.push({
        method: req.method,
        url: req.url,
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        userAgent: req.headers['user-agent'],
        body,
      });
      if (handler) return handler(req, res, body);
      if (req.url?.includes('tenant_access_token'))
        return res.end(JSON.stringify({ code: 0, tenant_access_token: token, expire: 7200 }));
      res.end(JSON.stringify({ code: 0, msg: 'success', data: { echo: req.url } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** A token cache of the client's own (the SDK's default one is shared by every client of an app id). */
function ownCache(): lark.Cache {
  const values = new Map<string, unknown>();
  return {
    set: async (key, value, _e, o) => Boolean(values.set(`${o?.namespace}/${String(key)}`, value)),
    get: async (key, o) => values.get(`${o?.namespace}/${String(key)}`),
  };
}

const quiet = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
const sdkClient = (domain: string, httpInstance?: lark.HttpInstance) =>
  new lark.Client({
    appId: 'cli_transport',
    appSecret,
    domain,
    cache: ownCache(),
    logger: quiet,
    ...(httpInstance ? { httpInstance } : {}),
  });

/** The calls the gateway makes, and others with the query shapes the SDK sends (arrays, reserved characters). */
async function sdkCalls(client: lark.Client): Promise<unknown[]> {
  return [
    await client.im.v1.message.create({
      params: { receive_id_type: 'chat_id' },
      data: { receive_id: 'oc_1', msg_type: 'interactive', content: '{"text":"héllo & ok: 1,2 $3"}' },
    }),
    await client.im.v1.message.patch({ path: { message_id: 'om_1' }, data: { content: '{}' } }),
    await client.hire.v1.ecoExam.loginInfo({
      path: { exam_id: 'exam 1' },
      data: { result: 0, msg: 'ok', exam_login_info: { exam_url: 'https://x.test/a?b=c' } },
    }),
    await client.tenant.v2.tenant.query({}),
    await client.im.v1.chat.get({ path: { chat_id: 'oc_1' }, params: { user_id_type: 'open_id' } }),
    await client.contact.v3.user.batch({
      params: { user_ids: ['ou_a', 'ou b:c', '用户'], user_id_type: 'open_id' },
    }),
    // client.request passes no paramsSerializer: axios's own encoding.
    await client.request({
      method: 'GET',
      url: '/open-apis/custom/v1/things',
      params: {
        text: 'a b:c,d$e&f=g/h?i#j',
        unicode: '考试',
        count: 3,
        on: true,
        skipped: undefined,
        nothing: null,
        ids: ['x', 'y z'],
        nested: { a: 1, b: [2, 3] },
        when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
      },
    }),
    await client.request({ method: 'POST', url: '/open-apis/custom/v1/things?fixed=1', data: { a: [1] } }),
  ];
}

describe('openPlatformHttp: what leaves is what the SDK default axios instance sends', () => {
  it('sends the same method, URL (query encoding), body, content type, token and user agent as axios, and answers the same', async () => {
    const viaAxios = await platform();
    const viaTransport = await platform();
    const axiosAnswers = await sdkCalls(sdkClient(viaAxios.url));
    const transportAnswers = await sdkCalls(
      sdkClient(viaTransport.url, openPlatformHttp({ timeoutMs: 5000 })),
    );

    expect(viaTransport.received).toEqual(viaAxios.received);
    expect(transportAnswers).toEqual(axiosAnswers);
    // The comparison is only worth something if these shapes were really sent.
    const urls = viaTransport.received.map((r) => r.url);
    expect(urls).toContain(
      '/open-apis/contact/v3/users/batch?user_ids=ou_a&user_ids=ou%20b%3Ac&user_ids=%E7%94%A8%E6%88%B7&user_id_type=open_id',
    );
    expect(urls.find((u) => u?.startsWith('/open-apis/custom/v1/things?text'))).toContain('ids%5B%5D=y+z');
    expect(viaTransport.received.filter((r) => r.authorization === `Bearer ${token}`)).toHaveLength(8);
    expect(viaTransport.received[0]?.userAgent).toMatch(/^oapi-node-sdk\//);
  });

  it('returns body and headers when the SDK asks for them ($return_headers)', async () => {
    const server = await platform((_req, res) =>
      res.writeHead(200, { 'x-tt-logid': 'log-1', 'content-type': 'application/json' }).end('{"code":0}'),
    );
    const answer = await openPlatformHttp({ timeoutMs: 5000 }).request({
      url: `${server.url}/open-apis/x`,
      $return_headers: true,
    });
    expect(answer).toMatchObject({ data: { code: 0 }, headers: { 'x-tt-logid': 'log-1' } });
  });

  it('decodes an answer compressed although it did not ask for compression', async () => {
    const server = await platform((_req, res) =>
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync('{"code":0,"data":{"a":1}}')),
    );
    await expect(openPlatformHttp({ timeoutMs: 5000 }).get(`${server.url}/x`)).resolves.toEqual({
      code: 0,
      data: { a: 1 },
    });
  });
});

describe('openPlatformHttp: failures', () => {
  it('rejects a non-2xx answer with response {status, data, headers}, as axios does, and names no secret', async () => {
    const answer: Handler = (_req, res) =>
      res
        .writeHead(429, { 'content-type': 'application/json', 'x-ogw-ratelimit-reset': '7' })
        .end('{"code":99991400,"msg":"request trigger frequency limit"}');
    const call = (url: string, http: lark.HttpInstance) =>
      http
        .request({
          url: `${url}/open-apis/im/v1/messages`,
          method: 'POST',
          headers: { Authorization: `Bearer ${token}` },
          data: { app_secret: appSecret },
        })
        .catch((e: { response: { status: number; data: unknown; headers: Record<string, string> } }) => e);
    const fromAxios = await call((await platform(answer)).url, lark.defaultHttpInstance as lark.HttpInstance);
    const err = await call((await platform(answer)).url, openPlatformHttp({ timeoutMs: 5000 }));

    expect(err).toBeInstanceOf(OpenPlatformHttpError);
    for (const e of [fromAxios, err]) {
      expect(e.response.status).toBe(429);
      expect(e.response.data).toEqual({ code: 99991400, msg: 'request trigger frequency limit' });
      expect(e.response.headers['x-ogw-ratelimit-reset']).toBe('7');
    }
    expect(`${String(err)} ${JSON.stringify(err)}`).not.toMatch(new RegExp(`${token}|${appSecret}`));
  });

  it('through callOpenApi: a 429 is rate limited with its reset, a 5xx whose body is not JSON is unavailable', async () => {
    const answers = [
      (res: ServerResponse) =>
        res.writeHead(429, { 'x-ogw-ratelimit-reset': '7' }).end('{"code":99991400,"msg":"slow down"}'),
      (res: ServerResponse) =>
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>'),
    ];
    const server = await platform((req, res) => {
      if (req.url?.includes('tenant_access_token'))
        return res.end(JSON.stringify({ code: 0, tenant_access_token: token, expire: 7200 }));
      answers.shift()?.(res);
    });
    const clients = new FeishuClients(
      { appId: 'cli_transport', appSecret, domain: server.url },
      createLogger({ level: 'silent' }),
    );
    const send = () =>
      callOpenApi(clients, 'im.v1.message.create', () =>
        clients.forTenant('t').client.im.v1.message.create({
          params: { receive_id_type: 'chat_id' },
          data: { receive_id: 'oc_1', msg_type: 'text', content: '{}' },
        }),
      ).catch((e: OpenApiError) => e);
    expect(await send()).toMatchObject({ failure: 'rate_limited', status: 429, retryAfterMs: 7000 });
    expect(await send()).toMatchObject({ failure: 'unavailable', status: 502, retryable: true });
  });

  it('a 2xx answer that is not JSON is handed back as text, as axios does', async () => {
    const server = await platform((_req, res) => res.end('plain words'));
    await expect(openPlatformHttp({ timeoutMs: 5000 }).get(`${server.url}/x`)).resolves.toBe('plain words');
  });

  it('does not follow a redirect: the 3xx is the answer, and the place it points to is never called', async () => {
    const target = await platform();
    const server = await platform((_req, res) =>
      res.writeHead(302, { location: `${target.url}/elsewhere` }).end(),
    );
    const err = await openPlatformHttp({ timeoutMs: 5000 })
      .post(`${server.url}/open-apis/x`, { a: 1 })
      .catch((e: OpenPlatformHttpError) => e);
    expect(err).toMatchObject({ response: { status: 302 } });
    expect(target.received).toEqual([]);
  });

  it('gives up after its timeout, also on an answer that starts but never ends, with a code and no response', async () => {
    const silent = await platform(() => undefined);
    const trickle = await platform((_req, res) => {
      res.writeHead(200);
      res.write('{"code":');
    });
    const http = openPlatformHttp({ timeoutMs: 100 });
    for (const server of [silent, trickle]) {
      const err = await http.get(`${server.url}/x`).catch((e: OpenPlatformHttpError) => e);
      expect(err).toMatchObject({
        code: 'ECONNABORTED',
        message: 'timeout of 100ms exceeded',
        response: undefined,
      });
    }
    // A call's own timeout wins over the transport's.
    const own = await http.get(`${silent.url}/x`, { timeout: 60 }).catch((e: OpenPlatformHttpError) => e);
    expect(own).toMatchObject({ code: 'ECONNABORTED', message: 'timeout of 60ms exceeded' });
  });

  it('FeishuClients times a call out after config.timeoutMs, as unavailable (retried)', async () => {
    const server = await platform((req, res) => {
      if (req.url?.includes('tenant_access_token'))
        res.end(JSON.stringify({ code: 0, tenant_access_token: token, expire: 7200 }));
    });
    const clients = new FeishuClients(
      { appId: 'cli_transport', appSecret, domain: server.url, timeoutMs: 100 },
      createLogger({ level: 'silent' }),
    );
    const err = await callOpenApi(clients, 'tenant.v2.tenant.query', () =>
      clients.forTenant('t').client.tenant.v2.tenant.query({}),
    ).catch((e: OpenApiError) => e);
    expect(err).toMatchObject({ failure: 'unavailable', retryable: true });
    expect(classifyFailure(err).kind).toBe('transient');
  });

  it('a refused connection rejects with its code; the outbox retries it', async () => {
    const closed = await platform();
    const url = closed.url;
    for (const server of servers.splice(0)) server.close();
    const err = await openPlatformHttp({ timeoutMs: 5000 })
      .get(`${url}/x`)
      .catch((e: OpenPlatformHttpError) => e);
    expect(err).toMatchObject({ code: 'ECONNREFUSED', response: undefined });

    const clients = new FeishuClients(
      { appId: 'cli_transport', appSecret, domain: url },
      createLogger({ level: 'silent' }),
    );
    const failed = await callOpenApi(clients, 'tenant.v2.tenant.query', () =>
      clients.forTenant('t').client.tenant.v2.tenant.query({}),
    ).catch((e: OpenApiError) => e);
    expect(failed).toMatchObject({ failure: 'unavailable', retryable: true });
    expect(classifyFailure(failed).kind).toBe('transient');
  });

  it('refuses a body it cannot send (a file upload) before sending anything', async () => {
    const server = await platform();
    const form = new FormData();
    form.append('file', 'x');
    const err = await openPlatformHttp({ timeoutMs: 5000 })
      .post(`${server.url}/open-apis/im/v1/files`, form)
      .catch((e: OpenPlatformHttpError) => e);
    expect(err).toMatchObject({ code: 'ERR_NOT_SUPPORT' });
    expect(server.received).toEqual([]);
  });
});

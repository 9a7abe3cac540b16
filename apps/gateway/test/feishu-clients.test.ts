import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { callOpenApi, FeishuClients, type OpenApiError } from '../src/feishu/clients.js';
import { createLogger } from '../src/log.js';

const appSecret = 'sdk-leak-check-secret-9f8e7d';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _e, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, log: createLogger({ level: 'trace', destination }) };
}

/** A tiny Open Platform that answers each request from a script, and counts token fetches. */
async function scriptedPlatform(answers: Array<{ status: number; body: unknown }>) {
  let tokens = 0;
  const server = createServer((req, res) => {
    if (req.url?.includes('tenant_access_token')) {
      tokens++;
      res.end(JSON.stringify({ code: 0, msg: 'ok', tenant_access_token: `t-${tokens}`, expire: 7200 }));
      return;
    }
    const answer = answers.shift() ?? {
      status: 200,
      body: { code: 0, msg: 'success', data: { message_id: 'om_ok' } },
    };
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tokens: () => tokens,
    close: () => server.close(),
  };
}

const send = (clients: FeishuClients) => () =>
  callOpenApi<{ message_id: string }>(clients, 'im.v1.message.create', () =>
    clients.forTenant('t').client.im.v1.message.create({
      params: { receive_id_type: 'chat_id' },
      data: { receive_id: 'oc_1', msg_type: 'text', content: '{"text":"hi"}' },
    }),
  );

describe('FeishuClients and callOpenApi', () => {
  it('never lets the SDK log the app secret, even when a call fails (its own logger prints the request config)', async () => {
    const { lines, log } = capture();
    const clients = new FeishuClients({ appId: 'cli_x', appSecret, domain: 'http://127.0.0.1:9' }, log);
    await expect(send(clients)()).rejects.toMatchObject({ failure: 'unavailable', retryable: true });
    expect(lines.join('')).toContain('details withheld');
    expect(lines.join('')).not.toContain(appSecret);
  });

  it('keeps one connection open across calls, and does not follow a redirect (it fails the call as refused)', async () => {
    const connections = new Set<unknown>();
    let redirect = false;
    const server = createServer((req, res) => {
      connections.add(req.socket);
      if (req.url?.includes('tenant_access_token')) {
        res.end(JSON.stringify({ code: 0, msg: 'ok', tenant_access_token: 't-1', expire: 7200 }));
      } else if (redirect) {
        res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' }).end();
      } else {
        res.end(JSON.stringify({ code: 0, msg: 'success', data: { message_id: 'om_ok' } }));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const clients = new FeishuClients({ appId: 'cli_x', appSecret, domain: url }, capture().log);
      for (let i = 0; i < 5; i++) await send(clients)();
      expect(connections.size).toBe(1);
      redirect = true;
      await expect(send(clients)()).rejects.toMatchObject({ failure: 'rejected', status: 302 });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('refreshes the token and retries at once on 99991663, and reads data on success', async () => {
    const platform = await scriptedPlatform([
      { status: 400, body: { code: 99991663, msg: 'Invalid access token' } },
    ]);
    try {
      const clients = new FeishuClients({ appId: 'cli_x', appSecret, domain: platform.url }, capture().log);
      await expect(send(clients)()).resolves.toEqual({ message_id: 'om_ok' });
      expect(platform.tokens()).toBe(2);
    } finally {
      platform.close();
    }
  });

  it('classifies answers: HTTP 200 with a code is an error; 429 or 99991400 is rate limited; 5xx unavailable; others rejected', async () => {
    const platform = await scriptedPlatform([
      { status: 200, body: { code: 230099, msg: 'Failed to create card content' } },
      { status: 429, body: { code: 99991400, msg: 'request trigger frequency limit' } },
      { status: 503, body: {} },
    ]);
    try {
      const clients = new FeishuClients({ appId: 'cli_x', appSecret, domain: platform.url }, capture().log);
      const failures = [];
      for (let i = 0; i < 3; i++) failures.push(await send(clients)().catch((e: OpenApiError) => e));
      expect(failures.map((e) => (e as OpenApiError).failure)).toEqual([
        'rejected',
        'rate_limited',
        'unavailable',
      ]);
      expect(failures.map((e) => (e as OpenApiError).retryable)).toEqual([false, true, true]);
      expect((failures[0] as OpenApiError).code).toBe(230099);
    } finally {
      platform.close();
    }
  });
});

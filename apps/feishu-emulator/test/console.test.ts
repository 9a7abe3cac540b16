// The console's server side over HTTP: the page and its assets, the live feed (server-sent events) that a
// posted or patched card and every Open Platform call reach, and what stays off the page.
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator, type RunningEmulator } from '../src/index.js';

const app = {
  appId: 'cli_console',
  appSecret: 'console-app-secret-xyz',
  encryptKey: 'k',
  verificationToken: 't',
};
let emulator: Emulator;
let running: RunningEmulator;
beforeAll(async () => {
  emulator = createEmulator({ apps: [app] });
  running = await emulator.listen();
});
afterAll(() => running.close());

const post = async (path: string, body: unknown, init: RequestInit = {}) =>
  fetch(`${running.url}${path}`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    body: JSON.stringify(body),
  });
const cardJson = (title: string) =>
  JSON.stringify({
    schema: '2.0',
    config: { update_multi: true },
    header: { title: { tag: 'plain_text', content: title } },
    body: { elements: [{ tag: 'markdown', content: 'hi' }] },
  });

/** Reads server-sent events from /_emulator/events until `want` of them have arrived. */
async function events(want: number, during: () => Promise<void>) {
  const controller = new AbortController();
  const response = await fetch(`${running.url}/_emulator/events`, { signal: controller.signal });
  expect(response.headers.get('content-type')).toBe('text/event-stream');
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const got: Array<{ event: string; data: Record<string, unknown> }> = [];
  let buffer = '';
  let started = false;
  while (got.length < want) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (event && data) got.push({ event, data: JSON.parse(data) });
    }
    if (!started && got.length > 0) {
      started = true;
      void during();
    }
  }
  controller.abort();
  return got;
}

describe('the console', () => {
  it('feeds a snapshot, then every call (secrets redacted) and every posted and patched card', async () => {
    emulator.console.configure({ gatewayUrl: 'http://127.0.0.1:9', operators: ['ou_a'] });
    let messageId = '';
    const got = await events(6, async () => {
      const token = (await (
        await post('/open-apis/auth/v3/tenant_access_token/internal', {
          app_id: app.appId,
          app_secret: app.appSecret,
        })
      ).json()) as { tenant_access_token: string };
      const auth = { authorization: `Bearer ${token.tenant_access_token}` };
      const sent = (await (
        await post(
          '/open-apis/im/v1/messages?receive_id_type=chat_id',
          { receive_id: 'oc_x', msg_type: 'interactive', content: cardJson('before') },
          { headers: auth },
        )
      ).json()) as { data: { message_id: string } };
      messageId = sent.data.message_id;
      await post(
        `/open-apis/im/v1/messages/${messageId}`,
        { content: cardJson('after') },
        { method: 'PATCH', headers: auth },
      );
    });
    expect(got.map((e) => e.event)).toEqual(['snapshot', 'call', 'message', 'call', 'message', 'call']);
    expect(got[0]?.data.settings).toEqual({ gatewayUrl: 'http://127.0.0.1:9', operators: ['ou_a'] });
    expect(JSON.stringify(got)).not.toContain(app.appSecret);
    expect((got[1]?.data.body as { app_secret?: string } | undefined)?.app_secret).toBe('***');
    expect(got[2]?.data.messageId).toBe(messageId);
    expect(got[2]?.data.content).toContain('before');
    expect(got[4]?.data.content).toContain('after');
  });

  it('serves the built page with a content security policy, and nothing outside it', async () => {
    const redirect = await fetch(`${running.url}/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/console/');
    const built = existsSync(fileURLToPath(new URL('../dist/console/index.html', import.meta.url)));
    const page = await fetch(`${running.url}/console/`);
    expect(page.status).toBe(built ? 200 : 503);
    if (built) {
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(await page.text()).toContain('/console/assets/');
    }
    const outside = await new Promise<number>((resolve, reject) =>
      request(`${running.url}/console/..%2f..%2fpackage.json`, (res) => resolve(res.statusCode ?? 0))
        .on('error', reject)
        .end(),
    );
    expect(outside).toBe(404);
  });
});

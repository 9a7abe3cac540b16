// Requests answered with the gateway's typed JSON errors where Node wrote a bare status, and the admin page's
// rules for what it names and who may post to it.
import { afterEach, describe, expect, it } from 'vitest';
import { baseEnv, rawExchange, startTestGateway, type TestGateway } from './support.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});
async function gateway() {
  const gw = await startTestGateway();
  gateways.push(gw);
  return gw;
}
const bearer = `Authorization: Bearer ${baseEnv.ADMIN_TOKEN}\r\n`;

describe('requests Node refuses before the app sees them', () => {
  for (const [name, head] of [
    ['an unknown method', 'FOO /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    [
      'a header name with a space',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\nConnection: close\r\n\r\n',
    ],
    [
      'a 20 KB URL',
      `GET /admin/exams?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    ],
    [
      'a 20 KB header',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
    ],
  ] as const)
    it(`${name} gets a JSON error with a code`, async () => {
      const gw = await gateway();
      const answer = await rawExchange(gw.url, head, 'wait');
      expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect(answer.toLowerCase()).toContain('content-type: application/json');
      expect(answer).toMatch(/"code":"[a-z_]+"/);
    });
});

describe('the admin page', () => {
  it('?notice= names only its own notices, not Object.prototype members', async () => {
    const gw = await gateway();
    const answer = await rawExchange(
      gw.url,
      `GET /admin/ui?notice=constructor HTTP/1.1\r\nHost: x\r\n${bearer}Connection: close\r\n\r\n`,
      'wait',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).not.toContain('function Object()');
  });

  it('refuses a sign-out posted from another origin (as it refuses a retry)', async () => {
    const gw = await gateway();
    const out = await fetch(`${gw.url}/admin/ui/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { origin: 'https://evil.example' },
    });
    expect(out.status).toBe(403);
    expect(out.headers.get('set-cookie')).toBeNull();
  });

  it('a sign-in with the right token from another origin is not told "Wrong token."', async () => {
    const gw = await gateway();
    const answer = await fetch(`${gw.url}/admin/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      // e.g. a proxy that rewrites Host, or a browser's `Origin: null`
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://admin.example.com' },
      body: new URLSearchParams({ token: baseEnv.ADMIN_TOKEN }).toString(),
    });
    const text = await answer.text();
    expect(answer.status).toBe(403);
    expect(text).not.toContain('Wrong token.');
  });
});

// The low-code (http) provider's calls against the outbox's retry contract and its own promise that
// the vendor's key only goes where baseUrl says. Each test fails on the code before its fix.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpProvider } from '../src/index.js';

const options = {
  baseUrl: 'https://lc.example',
  createExam: { path: '/sittings', response: { examUrl: '$.url' } },
  fetchResult: { path: '/sittings/{{exam.id}}', response: { score: '$.total' } },
};
const request = { examId: 'exam-1', candidate: { name: 'n', email: 'n@example.com' } };

function providerAnswering(answer: () => Response, o: Record<string, unknown> = options) {
  const built = httpProvider.build(o, {
    fetch: async () => answer(),
    now: Date.now,
    secret: (name) => (name === 'LC_KEY' ? 'lc-secret-key-0123456789' : undefined),
  });
  if (!built.ok) throw new Error(built.errors.join('\n'));
  return built.provider;
}

describe('statuses worth retrying, by default', () => {
  // RFC 9110 §15.5.9: 408, the server closed a request it waited too long for; the client may repeat it.
  // RFC 8470 §5.2: 425, the server will not risk a replay of early data; the client may retry.
  for (const status of [408, 425]) {
    it(`HTTP ${status} is retryable (the exam is not failed for good)`, async () => {
      const provider = providerAnswering(() => new Response('', { status }));
      await expect(provider.createExam(request)).rejects.toMatchObject({
        name: 'ProviderError',
        retryable: true,
      });
    });
  }
});

describe('Retry-After', () => {
  // RFC 9110 §10.2.3: delay-seconds or an HTTP-date; sent with 429 (RFC 6585 §4) and 503.
  it('a 429 naming its wait in seconds: the error carries it for the outbox (classifyFailure reads retryAfterMs)', async () => {
    const provider = providerAnswering(
      () => new Response('', { status: 429, headers: { 'retry-after': '120' } }),
    );
    await expect(provider.createExam(request)).rejects.toMatchObject({
      retryable: true,
      retryAfterMs: 120_000,
    });
  });

  it('a 503 naming an HTTP-date', async () => {
    const at = new Date(Date.now() + 90_000);
    at.setMilliseconds(0);
    const provider = providerAnswering(
      () => new Response('', { status: 503, headers: { 'retry-after': at.toUTCString() } }),
    );
    const err = await provider.createExam(request).then(
      () => undefined,
      (e: { retryAfterMs?: number }) => e,
    );
    expect(err?.retryAfterMs).toBeGreaterThan(60_000);
    expect(err?.retryAfterMs).toBeLessThanOrEqual(90_000);
  });
});

describe('a redirect from the platform', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  const listen = async (
    handler: (req: IncomingMessage, body: string) => [number, Record<string, string>, string],
  ) => {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const [status, headers, text] = handler(req, body);
        res.writeHead(status, headers).end(text);
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  it('is not followed to another origin: the API key and the candidate stay where baseUrl says', async () => {
    const elsewhere: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
    const other = await listen((req, body) => {
      elsewhere.push({ headers: req.headers, body });
      return [
        200,
        { 'content-type': 'application/json' },
        JSON.stringify({ url: 'https://other.example/x' }),
      ];
    });
    const platform = await listen(() => [307, { location: `${other}/collect` }, '']);
    const built = httpProvider.build(
      {
        baseUrl: platform,
        headers: { 'x-api-key': '{{secrets.LC_KEY}}' },
        createExam: {
          path: '/sittings',
          body: { reference: '{{exam.id}}', email: '{{candidate.email}}' },
          response: { examUrl: '$.url' },
        },
      },
      {
        fetch,
        now: Date.now,
        secret: (name) => (name === 'LC_KEY' ? 'lc-secret-key-0123456789' : undefined),
      },
    );
    if (!built.ok) throw new Error(built.errors.join('\n'));
    await built.provider.createExam(request).catch(() => undefined);
    expect(elsewhere.map((r) => ({ key: r.headers['x-api-key'], body: r.body }))).toEqual([]);
  });
});

describe('createExam: values that are not text', () => {
  it('an object at the password or platform id is refused, never stored as "[object Object]"', async () => {
    const provider = providerAnswering(
      () => Response.json({ url: 'https://lc.example/take/1', pass: { value: 'x' }, id: { value: 7 } }),
      {
        ...options,
        createExam: {
          path: '/sittings',
          response: { examUrl: '$.url', password: '$.pass', platformExamId: '$.id' },
        },
      },
    );
    const outcome = await provider.createExam(request).then(
      (a) => a,
      (e: Error) => e.name,
    );
    expect(outcome).toBe('ProviderError');
  });
});

// Audit of the result webhooks (config-declared HTTP and sandbox): each test failed on the code before its fix.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSandboxProvider, httpProvider } from '../src/index.js';

const SECRET = 'lc-webhook-secret-0123456789';
const context = {
  fetch,
  now: Date.now,
  secret: (name: string) =>
    name === 'LC_WEBHOOK_SECRET' || name === 'SANDBOX_WEBHOOK_SECRET' ? SECRET : undefined,
};
const hmac = (body: string) => createHmac('sha256', SECRET).update(body).digest('hex');

const lowCode = (header: string) => {
  const built = httpProvider.build(
    {
      baseUrl: 'https://lc.example',
      createExam: { path: '/sittings', response: { examUrl: '$.url' } },
      resultWebhook: {
        signature: { header, secret: 'LC_WEBHOOK_SECRET' },
        items: '$.results',
        examId: '$.reference',
        result: { score: '$.total' },
      },
    },
    context,
  );
  if (!built.ok) throw new Error(built.errors.join('\n'));
  return built.provider;
};

describe('a verified webhook whose body is broken is a validation error, not an authentication one', () => {
  it('http: signed, but not JSON or without the declared list: invalid_answer (the gateway answers 422)', async () => {
    const provider = lowCode('x-lc-signature');
    for (const body of ['not json', '{"results":"none"}']) {
      await expect(
        provider.parseResultWebhook?.({
          headers: { 'x-lc-signature': hmac(body) },
          rawBody: Buffer.from(body),
        }),
      ).rejects.toMatchObject({ name: 'ProviderError', retryable: false, code: 'invalid_answer' });
    }
  });

  it('sandbox: signed, but not JSON or malformed: invalid_answer; unsigned stays a refusal without a code', async () => {
    const provider = createSandboxProvider({}, context);
    for (const body of ['not json', '{"exam_id":"e-1"}']) {
      await expect(
        provider.parseResultWebhook?.({
          headers: { 'x-sandbox-signature': hmac(body) },
          rawBody: Buffer.from(body),
        }),
      ).rejects.toMatchObject({ name: 'ProviderError', retryable: false, code: 'invalid_answer' });
    }
    await expect(
      provider.parseResultWebhook?.({ headers: {}, rawBody: Buffer.from('{}') }),
    ).rejects.toMatchObject({ retryable: false, code: undefined });
  });
});

describe('the declared signature header', () => {
  it('is found whatever its case in the configuration: Node hands over header names in lower case', async () => {
    const body = JSON.stringify({ results: [{ reference: 'exam-1', total: 70 }] });
    const provider = lowCode('X-LC-Signature');
    expect(
      await provider.parseResultWebhook?.({
        headers: { 'x-lc-signature': hmac(body) },
        rawBody: Buffer.from(body),
      }),
    ).toEqual([{ examId: 'exam-1', result: { score: '70' } }]);
  });
});

describe('a signed timestamp (signature.timestamp): a captured request replayed later is refused', () => {
  const NOW = Date.UTC(2026, 11, 3, 9, 0, 0);
  const stamped = (timestamp: Record<string, unknown>) => {
    const built = httpProvider.build(
      {
        baseUrl: 'https://lc.example',
        createExam: { path: '/sittings', response: { examUrl: '$.url' } },
        resultWebhook: {
          signature: { header: 'x-lc-signature', secret: 'LC_WEBHOOK_SECRET', timestamp },
          items: '$.results',
          examId: '$.reference',
          result: { score: '$.total' },
        },
      },
      { ...context, now: () => NOW },
    );
    if (!built.ok) throw new Error(built.errors.join('\n'));
    return built.provider;
  };
  const body = JSON.stringify({ results: [{ reference: 'exam-1', total: 70 }] });
  const signedAt = (seconds: number, template = (t: string) => `${t}.${body}`) => ({
    headers: {
      'x-lc-signature': createHmac('sha256', SECRET)
        .update(template(String(seconds)))
        .digest('hex'),
      'x-lc-timestamp': String(seconds),
    },
    rawBody: Buffer.from(body),
  });

  it('takes a request signed now, with the default "{timestamp}.{body}"', async () => {
    const provider = stamped({ header: 'X-LC-Timestamp' });
    expect(await provider.parseResultWebhook?.(signedAt(NOW / 1000 - 60))).toEqual([
      { examId: 'exam-1', result: { score: '70' } },
    ]);
  });

  it('refuses the same request replayed past the tolerance, and one without the header', async () => {
    const provider = stamped({ header: 'x-lc-timestamp', toleranceSeconds: 120 });
    await expect(provider.parseResultWebhook?.(signedAt(NOW / 1000 - 121))).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: false,
      message: expect.stringContaining('more than 120 s from now'),
    });
    const { 'x-lc-timestamp': _, ...withoutTime } = signedAt(NOW / 1000).headers;
    await expect(
      provider.parseResultWebhook?.({ headers: withoutTime, rawBody: Buffer.from(body) }),
    ).rejects.toMatchObject({ message: expect.stringContaining('no x-lc-timestamp header') });
  });

  it('refuses a fresh timestamp put on an old signature: the signature covers the time', async () => {
    const provider = stamped({ header: 'x-lc-timestamp' });
    const old = signedAt(NOW / 1000 - 3600);
    await expect(
      provider.parseResultWebhook?.({
        headers: { ...old.headers, 'x-lc-timestamp': String(NOW / 1000) },
        rawBody: old.rawBody,
      }),
    ).rejects.toMatchObject({ message: expect.stringContaining('signature does not match') });
    // Without the option the body alone is signed (the platforms that send no time), as before.
    await expect(lowCode('x-lc-signature').parseResultWebhook?.(old)).rejects.toMatchObject({
      message: expect.stringContaining('signature does not match'),
    });
  });

  it('signs what the template says, in the unit it says (Slack-style "v0:{timestamp}:{body}", milliseconds)', async () => {
    const provider = stamped({
      header: 'x-lc-timestamp',
      unit: 'milliseconds',
      signed: 'v0:{timestamp}:{body}',
    });
    expect(await provider.parseResultWebhook?.(signedAt(NOW - 1000, (t) => `v0:${t}:${body}`))).toHaveLength(
      1,
    );
    await expect(provider.parseResultWebhook?.(signedAt(NOW - 1000))).rejects.toMatchObject({
      message: expect.stringContaining('signature does not match'),
    });
  });

  it('refuses a template without {timestamp} or not ending with {body}, when the file is loaded', () => {
    for (const signed of ['{body}', '{body}.{timestamp}', '{timestamp}{timestamp}{body}']) {
      const built = httpProvider.build(
        {
          baseUrl: 'https://lc.example',
          createExam: { path: '/sittings', response: { examUrl: '$.url' } },
          resultWebhook: {
            signature: {
              header: 'x-lc-signature',
              secret: 'LC_WEBHOOK_SECRET',
              timestamp: { header: 'x-t', signed },
            },
            examId: '$.reference',
            result: { score: '$.total' },
          },
        },
        context,
      );
      expect(built.ok).toBe(false);
      if (!built.ok)
        expect(built.errors.join('\n')).toContain('must hold {timestamp} once and end with {body}');
    }
  });
});

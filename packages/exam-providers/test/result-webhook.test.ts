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

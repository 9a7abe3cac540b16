import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runProviderConformance } from '../src/conformance.js';
import {
  createProviderRegistry,
  createSandboxProvider,
  defaultProviderContext,
  sandboxProvider,
} from '../src/index.js';

/** Test fixtures set the secret explicitly; no code has a default for it. */
const SECRET = 'sandbox-test-secret-0123456789';
const withSecret = (secret: string | undefined) => defaultProviderContext({ SANDBOX_WEBHOOK_SECRET: secret });
const sign = (body: string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');

const request = {
  examId: '7147998241542539527',
  paperId: 'paper001',
  candidate: { name: '王二', email: 'xxx@abc.vom' },
};

runProviderConformance(sandboxProvider, {
  options: {},
  invalidOptions: [
    { failureRate: 2 },
    { baseUrl: 'ftp://x' },
    { unknownOption: true },
    { papers: [{ id: '', name: 'x' }] },
  ],
  request,
  context: withSecret(SECRET),
  failures: [
    { name: 'a retired paper', options: { failingPaperIds: ['paper001'] }, retryable: false },
    { name: 'the platform is down', options: { failureRate: 1 }, retryable: true },
  ],
  results: {
    webhook: {
      headers: { 'x-sandbox-signature': sign('{"exam_id":"e-1","score":"1"}') },
      rawBody: Buffer.from('{"exam_id":"e-1","score":"1"}'),
    },
  },
});

describe('sandbox provider', () => {
  it('arranges deterministically per exam id, with the candidate email as username', async () => {
    const a = await createSandboxProvider().createExam(request);
    const b = await createSandboxProvider().createExam({ ...request, examId: 'other' });
    expect(a.username).toBe('xxx@abc.vom');
    expect(a.examUrl).not.toBe(b.examUrl);
    expect(a).toEqual(await createSandboxProvider().createExam(request));
  });

  it('refuses bad options when built directly, saying which', () => {
    expect(() => createSandboxProvider({ failureRate: 5 })).toThrow(/options\.failureRate/);
  });
});

describe('sandbox result webhook', () => {
  const sandbox = (secret: string | undefined) => createSandboxProvider({}, withSecret(secret));
  const body = JSON.stringify({
    exam_id: 'e-1',
    score: '87.5',
    finished_at: 1_700_000_000_000,
    report_url: 'https://sandbox.exam.invalid/r/1',
    sections: [{ name: 'Logic', score: '40' }],
  });

  it('reads a signed result into the contract’s shape', async () => {
    const reports = await sandbox(SECRET).parseResultWebhook?.({
      headers: { 'x-sandbox-signature': sign(body) },
      rawBody: Buffer.from(body),
    });
    expect(reports).toEqual([
      {
        examId: 'e-1',
        result: {
          score: '87.5',
          resultTime: 1_700_000_000_000,
          reports: [
            {
              name: 'Sandbox report',
              url: 'https://sandbox.exam.invalid/r/1',
              answerTime: 1_700_000_000_000,
            },
          ],
          details: [{ name: 'Logic', result: '40' }],
        },
      },
    ]);
  });

  it('refuses an unsigned, wrongly signed or malformed webhook with a non-retryable ProviderError', async () => {
    const provider = sandbox(SECRET);
    for (const headers of [
      {},
      { 'x-sandbox-signature': sign(body, 'another-secret') },
      { 'x-sandbox-signature': 'zz' },
    ]) {
      await expect(
        provider.parseResultWebhook?.({ headers, rawBody: Buffer.from(body) }),
      ).rejects.toMatchObject({ name: 'ProviderError', retryable: false });
    }
    const broken = '{"exam_id":"e-1"}';
    await expect(
      provider.parseResultWebhook?.({
        headers: { 'x-sandbox-signature': sign(broken) },
        rawBody: Buffer.from(broken),
      }),
    ).rejects.toThrow(/malformed/);
  });

  it('is off without SANDBOX_WEBHOOK_SECRET: no parseResultWebhook, so the gateway answers 404 for it', () => {
    for (const secret of [undefined, '', '   ']) {
      expect(sandbox(secret).parseResultWebhook, JSON.stringify(secret)).toBeUndefined();
    }
    const registry = createProviderRegistry(
      [sandboxProvider],
      { providers: [{ id: 'sandbox', type: 'sandbox' }], defaultProvider: 'sandbox' },
      defaultProviderContext({}),
    );
    if (!registry.ok) throw new Error(registry.errors.join());
    expect(registry.registry.get('sandbox')?.parseResultWebhook).toBeUndefined();
  });

  it('the old default secret, published in the source, verifies nothing', async () => {
    await expect(
      sandbox(SECRET).parseResultWebhook?.({
        headers: { 'x-sandbox-signature': sign(body, 'sandbox-webhook-secret') },
        rawBody: Buffer.from(body),
      }),
    ).rejects.toMatchObject({ name: 'ProviderError', retryable: false });
    // Nor can it be configured: the gateway would refuse to start with it.
    expect(() => sandbox('sandbox-webhook-secret')).toThrow(/SANDBOX_WEBHOOK_SECRET is the old default/);
  });

  it('refuses at start a short secret, and the secret as an option', () => {
    expect(() => sandbox('short')).toThrow(/SANDBOX_WEBHOOK_SECRET is shorter than 16 characters/);
    expect(() => createSandboxProvider({ webhookSecret: SECRET } as never, withSecret(SECRET))).toThrow(
      /options\.webhookSecret: is no longer an option: set the environment variable SANDBOX_WEBHOOK_SECRET/,
    );
  });

  it('refuses a signed result that breaks the contract’s bounds: a javascript: report URL, a huge score', async () => {
    for (const [result, problem] of [
      [
        { exam_id: 'e-1', score: '1', report_url: 'javascript:alert(1)' },
        /reports\[0\]\.url: must be an absolute http\(s\) URL/,
      ],
      [{ exam_id: 'e-1', score: '9'.repeat(500_000) }, /score: must be at most 64 characters/],
    ] as const) {
      const raw = JSON.stringify(result);
      await expect(
        sandbox(SECRET).parseResultWebhook?.({
          headers: { 'x-sandbox-signature': sign(raw) },
          rawBody: Buffer.from(raw),
        }),
      ).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(problem) });
    }
  });
});

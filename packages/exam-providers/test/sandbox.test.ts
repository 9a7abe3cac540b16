import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runProviderConformance } from '../src/conformance.js';
import { createSandboxProvider, sandboxProvider } from '../src/index.js';

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
  failures: [
    { name: 'a retired paper', options: { failingPaperIds: ['paper001'] }, retryable: false },
    { name: 'the platform is down', options: { failureRate: 1 }, retryable: true },
  ],
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
  const sign = (body: string, secret = 'sandbox-webhook-secret') =>
    createHmac('sha256', secret).update(body).digest('hex');
  const body = JSON.stringify({
    exam_id: 'e-1',
    score: '87.5',
    finished_at: 1_700_000_000_000,
    report_url: 'https://sandbox.exam.invalid/r/1',
    sections: [{ name: 'Logic', score: '40' }],
  });

  it('reads a signed result into the contract’s shape', async () => {
    const reports = await createSandboxProvider().parseResultWebhook?.({
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
    const provider = createSandboxProvider();
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
});

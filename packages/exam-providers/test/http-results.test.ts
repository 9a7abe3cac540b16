import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runProviderConformance } from '../src/conformance.js';
import { httpProvider, loadProvidersFile, sandboxProvider } from '../src/index.js';

/** A platform whose results carry everything update_result takes: answer time, several reports, details. */
const finished = new Set<string>();
const fake = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'POST')
      return res.end(JSON.stringify({ id: 'sit-1', url: 'https://lc.example/sit/1' }));
    const id = req.url?.split('/').pop() ?? '';
    if (!finished.has(id)) return res.end(JSON.stringify({ state: 'running' }));
    return res.end(
      JSON.stringify({
        total: 88,
        scoredAt: '2026-03-01T10:05:00Z',
        submittedAt: 1772359200000,
        pdf: 'https://lc.example/r/1.pdf',
        extra: [
          { title: 'Code replay', link: 'https://lc.example/replay/1' },
          { title: 'Proctoring', link: 'https://lc.example/proctor/1', at: '2026-03-01T10:01:00Z' },
        ],
        sections: [
          { code: 's1', label: 'Algorithms', pct: '90%' },
          { code: 's2', label: 'SQL', pct: 85 },
        ],
      }),
    );
  });
});
await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
afterAll(() => fake.close());
const baseUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;

const SECRET = 'lc-webhook-secret-0123456789';
const context = { secret: (name: string) => (name === 'LC_WEBHOOK_SECRET' ? SECRET : undefined) };
const result = {
  score: '$.total',
  resultTime: '$.scoredAt',
  answerTime: '$.submittedAt',
  reportUrl: '$.pdf',
  reportName: 'PDF report',
  reports: { items: '$.extra', name: '$.title', url: '$.link', answerTime: '$.at' },
  details: { items: '$.sections', name: '$.label', result: '$.pct', id: '$.code' },
};
const options = {
  baseUrl,
  createExam: {
    path: '/sittings',
    body: { ref: '{{exam.id}}' },
    response: { examUrl: '$.url', platformExamId: '$.id' },
  },
  fetchResult: { path: '/sittings/{{exam.platformExamId}}', response: result },
  resultWebhook: {
    signature: {
      header: 'x-lc-signature',
      algorithm: 'sha256',
      encoding: 'hex',
      prefix: 'sha256=',
      secret: 'LC_WEBHOOK_SECRET',
    },
    items: '$.results',
    examId: '$.reference',
    result,
  },
};
const webhookBody = JSON.stringify({
  results: [{ reference: 'exam-1', total: 70, pdf: 'https://lc.example/r/2.pdf', sections: [] }],
});
const sign = (body: string, secret = SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
const request = { examId: 'exam-1', paperId: 'p', candidate: { name: 'n' } };

runProviderConformance(httpProvider, {
  options,
  invalidOptions: [
    {
      ...options,
      resultWebhook: { ...options.resultWebhook, signature: { header: 'x', secret: 'lower-case' } },
    },
    {
      ...options,
      fetchResult: { ...options.fetchResult, response: { ...result, details: { items: '$.s' } } },
    },
  ],
  request,
  context,
  results: {
    ref: ({ platformExamId }) => {
      finished.add(String(platformExamId));
      return { examId: request.examId, platformExamId };
    },
    webhook: { headers: { 'x-lc-signature': sign(webhookBody) }, rawBody: Buffer.from(webhookBody) },
    forgedWebhooks: [
      {
        headers: { 'x-lc-signature': sign(webhookBody, 'not-the-secret') },
        rawBody: Buffer.from(webhookBody),
      },
      { headers: {}, rawBody: Buffer.from(webhookBody) },
    ],
  },
});

describe('http provider: everything update_result takes, declared', () => {
  const provider = () => {
    const built = httpProvider.build(options, { fetch, now: Date.now, ...context });
    if (!built.ok) throw new Error(built.errors.join('\n'));
    return built.provider;
  };

  it('maps result_time, answer_time, several reports and detail_list from a polled answer', async () => {
    finished.add('sit-9');
    expect(await provider().fetchResult?.({ examId: 'e', platformExamId: 'sit-9' })).toEqual({
      score: '88',
      resultTime: Date.parse('2026-03-01T10:05:00Z'),
      reports: [
        { name: 'PDF report', url: 'https://lc.example/r/1.pdf', answerTime: 1772359200000 },
        { name: 'Code replay', url: 'https://lc.example/replay/1', answerTime: 1772359200000 },
        {
          name: 'Proctoring',
          url: 'https://lc.example/proctor/1',
          answerTime: Date.parse('2026-03-01T10:01:00Z'),
        },
      ],
      details: [
        { id: 's1', name: 'Algorithms', result: '90%' },
        { id: 's2', name: 'SQL', result: '85' },
      ],
    });
  });

  // Date.parse reads a time without an offset in the gateway host's time zone: the time sent to Hire moved by
  // 8 hours between a UTC container and a machine in China.
  it('reads a time as the instant it names: digits, or ISO 8601 with Z or an offset; without an offset, no time', async () => {
    const timeOf = async (scoredAt: unknown) => {
      const body = JSON.stringify({ results: [{ reference: 'exam-1', total: 70, scoredAt, sections: [] }] });
      const [first] =
        (await provider().parseResultWebhook?.({
          headers: { 'x-lc-signature': sign(body) },
          rawBody: Buffer.from(body),
        })) ?? [];
      return first?.result.resultTime;
    };
    expect(await timeOf('2024-03-01T10:00:00+08:00')).toBe(Date.UTC(2024, 2, 1, 2));
    expect(await timeOf('2024-03-01 10:00:00+0800')).toBe(Date.UTC(2024, 2, 1, 2));
    expect(await timeOf('2024-03-01T02:00:00.000Z')).toBe(Date.UTC(2024, 2, 1, 2));
    expect(await timeOf('1709258400000')).toBe(1709258400000);
    expect(await timeOf('2024-03-01 10:00:00')).toBeUndefined();
    expect(await timeOf('2024-03-01T10:00:00')).toBeUndefined();
  });

  it('refuses a time in epoch seconds, which Hire would show as a date in 1970', async () => {
    const body = JSON.stringify({
      results: [{ reference: 'exam-1', total: 70, scoredAt: 1709258400, sections: [] }],
    });
    await expect(
      provider().parseResultWebhook?.({
        headers: { 'x-lc-signature': sign(body) },
        rawBody: Buffer.from(body),
      }),
    ).rejects.toThrow(/resultTime: must be epoch milliseconds \(13 digits\); is it in seconds\?/);
  });

  it('reads a webhook signed with the declared HMAC, and refuses a forged or unsigned one', async () => {
    const p = provider();
    expect(
      await p.parseResultWebhook?.({
        headers: { 'x-lc-signature': sign(webhookBody) },
        rawBody: Buffer.from(webhookBody),
      }),
    ).toEqual([
      {
        examId: 'exam-1',
        result: { score: '70', reports: [{ name: 'PDF report', url: 'https://lc.example/r/2.pdf' }] },
      },
    ]);
    await expect(
      p.parseResultWebhook?.({
        headers: { 'x-lc-signature': sign(`${webhookBody} `) },
        rawBody: Buffer.from(webhookBody),
      }),
    ).rejects.toThrow(/x-lc-signature signature does not match the body/);
    await expect(p.parseResultWebhook?.({ headers: {}, rawBody: Buffer.from(webhookBody) })).rejects.toThrow(
      /no x-lc-signature header/,
    );
  });

  it('a webhook secret missing from the environment stops the start, at its line in the file', () => {
    const yaml = [
      'providers:',
      '  - id: lc',
      '    type: http',
      '    options:',
      `      baseUrl: ${baseUrl}`,
      '      createExam: { path: /s, response: { examUrl: $.url } }',
      '      resultWebhook:',
      '        signature:',
      '          header: x-lc-signature',
      '          secret: LC_WEBHOOK_SECRET',
      '        examId: $.reference',
      '        result: { score: $.total }',
      '',
    ].join('\n');
    const loaded = loadProvidersFile(yaml, 'providers.yaml', [sandboxProvider, httpProvider], {
      fetch,
      now: Date.now,
      secret: () => undefined,
    });
    expect(loaded.ok ? [] : loaded.errors).toEqual([
      'providers.yaml:10: provider lc (http): options.resultWebhook.signature.secret: the secret LC_WEBHOOK_SECRET is not set in the environment; set it to the secret the platform signs its webhooks with',
    ]);
  });
});

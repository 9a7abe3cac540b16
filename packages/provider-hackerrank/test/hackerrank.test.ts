import { runProviderConformance } from '@feishu-exam/exam-providers/conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { type FakeTest, startFakeHackerRank } from '../src/fake.js';
import hackerRankProvider from '../src/index.js';
import { failureOf } from './support.js';

const hr = await startFakeHackerRank({ apiKey: 'hr-key-1234567890' });
afterAll(() => hr.close());

const options = { baseUrl: hr.url };
const context = {
  secret: (name: string) =>
    name === 'HACKERRANK_API_KEY' ? hr.apiKey : name === 'WRONG_KEY' ? 'not-the-key' : undefined,
};
const request = {
  examId: 'hr-exam-1',
  paperId: '101',
  candidate: { name: '王二', email: 'wang@example.com' },
};

runProviderConformance(hackerRankProvider, {
  options,
  invalidOptions: [
    { baseUrl: 'ftp://hackerrank.example' },
    { ...options, sendEmail: 'yes' },
    { ...options, apiKeySecret: 'not a variable' },
    { ...options, colour: 'blue' },
  ],
  request,
  context,
  failures: [
    { name: 'no such test (404)', request: { ...request, paperId: '999' }, retryable: false },
    {
      name: 'the candidate has no email',
      request: { ...request, examId: 'hr-no-email', candidate: { name: '李四' } },
      retryable: false,
    },
    { name: 'the exam has no paper', request: { ...request, paperId: undefined }, retryable: false },
    { name: 'a wrong API key (401)', options: { ...options, apiKeySecret: 'WRONG_KEY' }, retryable: false },
    { name: 'nobody answers', options: { baseUrl: 'http://127.0.0.1:9' }, retryable: true },
  ],
  results: {
    ref: ({ platformExamId }) => {
      hr.finish(String(platformExamId?.split('/')[1]), { score: 87.456, percentage: 62.5 });
      return { examId: request.examId, platformExamId };
    },
  },
});

describe('hackerrank provider', () => {
  const build = (o: unknown = options, ctx = context) => {
    const built = hackerRankProvider.build(o, { fetch, now: Date.now, ...ctx });
    if (!built.ok) throw new Error(built.errors.join('\n'));
    return built.provider;
  };

  it('invites the candidate to the paper’s test with a Bearer key; the invite link is the exam URL', async () => {
    const arrangement = await build().createExam({
      ...request,
      examId: 'hr-invite',
      candidate: { name: '赵六', email: 'zhao@example.com' },
    });
    const candidate = hr.candidates.find((c) => c.email === 'zhao@example.com');
    expect(arrangement).toEqual({
      examUrl: candidate?.invite_link,
      platformExamId: `101/${candidate?.id}`,
    });
    expect(arrangement.examUrl).toMatch(/\/tests\/java-basics\/login\?b=[0-9a-f]{24}$/);
    const invite = hr.requests.find((r) => r.method === 'POST' && JSON.stringify(r.body).includes('zhao@'));
    expect(invite).toEqual({
      method: 'POST',
      path: '/x/api/v3/tests/101/candidates',
      body: {
        full_name: '赵六',
        email: 'zhao@example.com',
        send_email: false,
        invite_metadata: { feishu_exam_id: 'hr-invite' },
      },
    });
  });

  it('tags the invitation with the customer’s tag, when the bound account has one', async () => {
    const provider = build();
    expect(provider.accountFields?.map((f) => [f.key, f.required])).toEqual([['hackerrank_tag', false]]);
    await provider.createExam({
      ...request,
      examId: 'hr-tagged',
      candidate: { name: 'C', email: 'tagged@example.com' },
      account: { accountId: 'acc-1', fields: { hackerrank_tag: ' ACME-2026 ' } },
    });
    expect(hr.candidates.find((c) => c.email === 'tagged@example.com')?.tags).toEqual(['ACME-2026']);
  });

  it('a retried invitation returns the first one, found again by the exam id it carries', async () => {
    const provider = build();
    const req = { ...request, examId: 'hr-retry', candidate: { name: 'A', email: 'retry@example.com' } };
    const first = await provider.createExam(req);
    const again = await provider.createExam(req);
    expect(again).toEqual(first);
    expect(hr.candidates.filter((c) => c.email === 'retry@example.com')).toHaveLength(1);
    // Another exam for the same email and test is not mistaken for this one.
    const other = await failureOf(provider.createExam({ ...req, examId: 'hr-retry-2' }));
    expect(other).toMatchObject({
      retryable: false,
      message: 'HackerRank refused the invitation (HTTP 400)',
    });
  });

  it('publishes published tests as papers (not drafts), following the pages, optionally only some', async () => {
    expect(await build().listPapers?.(undefined)).toEqual([
      { id: '101', name: 'Java basics', durationMinutes: 60, questionCount: 3 },
      { id: '102', name: 'SQL screen', durationMinutes: 45, questionCount: 2 },
    ]);
    expect(await build({ ...options, testIds: ['102'] }).listPapers?.(undefined)).toEqual([
      { id: '102', name: 'SQL screen', durationMinutes: 45, questionCount: 2 },
    ]);

    const many: FakeTest[] = Array.from({ length: 230 }, (_, i) => ({
      id: String(5000 + i),
      unique_id: `t${i}`,
      name: `Test ${i}`,
      duration: 30,
      state: i === 7 ? 'archived' : 'active',
      draft: false,
      questions: [],
    }));
    const big = await startFakeHackerRank({ tests: many });
    try {
      const papers =
        (await build({ baseUrl: big.url }, { secret: () => big.apiKey }).listPapers?.(undefined)) ?? [];
      expect(papers).toHaveLength(229);
      expect(papers.map((p) => p.id)).not.toContain('5007');
      expect(big.requests.map((r) => r.path)).toEqual([
        '/x/api/v3/tests?limit=100&offset=0',
        '/x/api/v3/tests?limit=100&offset=100',
        '/x/api/v3/tests?limit=100&offset=200',
      ]);
    } finally {
      await big.close();
    }
  });

  it('reads the result only once the report exists (status 7), mapped to Feishu’s score, time and reports', async () => {
    const provider = build();
    const arrangement = await provider.createExam({
      ...request,
      examId: 'hr-result',
      candidate: { name: 'B', email: 'result@example.com' },
    });
    const ref = { examId: 'hr-result', platformExamId: arrangement.platformExamId };
    expect(await provider.fetchResult?.(ref)).toBeUndefined();

    const candidate = hr.candidates.find((c) => c.email === 'result@example.com');
    if (!candidate) throw new Error('not invited');
    hr.finish(candidate.id, { score: 87.456, percentage: 72.9 });
    expect(await provider.fetchResult?.(ref)).toEqual({
      score: '87.46',
      resultTime: Date.parse(candidate.attempt_endtime ?? ''),
      reports: [
        {
          name: 'HackerRank report',
          url: candidate.report_url,
          answerTime: Date.parse(candidate.attempt_endtime ?? ''),
        },
        {
          name: 'HackerRank report (PDF)',
          url: candidate.pdf_url,
          answerTime: Date.parse(candidate.attempt_endtime ?? ''),
        },
      ],
      details: [{ name: 'Percentage score', result: '72.9%' }],
    });
  });

  it('classifies failures: rate limits and 5xx are retried, and no message carries the API key', async () => {
    const provider = build();
    hr.failNext(1, 429);
    const limited = await failureOf(provider.createExam({ ...request, examId: 'hr-429' }));
    expect(limited.retryable).toBe(true);
    hr.failNext(1, 502);
    const down = await failureOf(
      provider.fetchResult?.({ examId: 'x', platformExamId: '101/9000' }) ?? Promise.resolve(),
    );
    expect(down).toMatchObject({
      retryable: true,
      message: 'HackerRank is unavailable (HTTP 502); will retry',
    });
    const unknown = await failureOf(provider.fetchResult?.({ examId: 'x' }) ?? Promise.resolve());
    expect(unknown.retryable).toBe(false);
    for (const e of [limited, down, unknown]) expect(e.message).not.toContain(hr.apiKey);
  });

  it('reads an answer up to 10 MB and no further: a runaway body is refused, not held in memory', async () => {
    let pulled = 0;
    const endless: typeof fetch = async () =>
      new Response(
        new ReadableStream({
          pull(controller) {
            pulled += 1;
            if (pulled > 40) controller.close();
            else controller.enqueue(new Uint8Array(1024 * 1024).fill(0x20));
          },
        }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    const provider = build(options, { ...context, fetch: endless } as typeof context);
    const refused = await failureOf(provider.listPapers?.(undefined) ?? Promise.resolve());
    expect(refused).toMatchObject({
      retryable: false,
      code: 'invalid_answer',
      message: expect.stringMatching(/more than 10 MB/),
    });
    expect(pulled).toBeLessThan(40);
  });

  it('a body that breaks off is a network failure, retried', async () => {
    const broken: typeof fetch = async () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"data": ['));
            controller.error(new TypeError('terminated'));
          },
        }),
        { status: 200 },
      );
    const provider = build(options, { ...context, fetch: broken } as typeof context);
    const failed = await failureOf(provider.listPapers?.(undefined) ?? Promise.resolve());
    expect(failed).toMatchObject({ retryable: true, message: 'HackerRank did not answer (network error)' });
  });

  it('refuses to start without its API key, naming the variable to set', () => {
    const built = hackerRankProvider.build(options, { fetch, now: Date.now, secret: () => undefined });
    expect(built.ok).toBe(false);
    expect(built.ok ? [] : built.errors).toEqual([
      expect.stringMatching(
        /options\.apiKeySecret: the secret HACKERRANK_API_KEY is not set in the environment; set it to your HackerRank for Work API key/,
      ),
    ]);
  });
});

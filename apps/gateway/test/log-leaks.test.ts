// Secrets and personal data that reached log lines, or text sent beyond them, through a far side's words: an
// exam platform's error repeating the candidate it was given (in any format), or its own API key. Each test
// failed on the code before its fix.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createProviderRegistry,
  defaultProviderContext,
  defineProvider,
  type ExamProvider,
  type ProviderContext,
  ProviderError,
} from '@feishu-exam/exam-providers';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pushApprovedExam, recordingPlatform, startTestGateway } from './support.js';

const API_KEY = 'leaky-platform-key-0123456789';

async function until(check: () => boolean) {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

type Candidate = { name: string; mobile?: { code: string; number: string }; email?: string };
type EchoingParts = Pick<ExamProvider, 'createExam' | 'fetchResult'>;

/**
 * A gateway whose one exam platform is made of `parts` (its API key, LEAKY_API_KEY, read through the
 * provider context as a real one's is), with an exam pushed for `candidate` and approved: the arrangement
 * runs next.
 */
async function echoingGateway(
  examId: string,
  candidate: Candidate,
  parts: (ctx: ProviderContext, id: string) => EchoingParts,
  env: Record<string, string> = {},
) {
  const echoing = defineProvider({
    id: 'echoing',
    options: z.object({}),
    create: (_o, ctx, id) => ({ id, ...parts(ctx, id) }),
  });
  const registry = createProviderRegistry(
    [echoing],
    { providers: [{ id: 'echoing', type: 'echoing' }], defaultProvider: 'echoing' },
    defaultProviderContext({ LEAKY_API_KEY: API_KEY }),
  );
  if (!registry.ok) throw new Error(registry.errors.join());
  const gw = await startTestGateway(
    { LOG_LEVEL: 'info', LEAKY_API_KEY: API_KEY, ...env },
    { providers: registry.registry },
  );
  await pushApprovedExam(gw, examId, candidate);
  return gw;
}

const REFUSED = 'the exam platform refused the arrangement';

describe("an exam platform's error that repeats what it was given", () => {
  it("is logged without the candidate's email or phone (any country) and without the platform's API key", async () => {
    const candidate = {
      name: 'Leaky Candidate',
      mobile: { code: '44', number: '7700900123' },
      email: 'leaky.candidate@example.org',
    };
    const gw = await echoingGateway(
      'leak-1',
      candidate,
      (ctx, id) => ({
        createExam: async (request) => {
          const { email, mobile } = request.candidate;
          throw new ProviderError(
            `candidate ${email} (+${mobile?.code} ${mobile?.number}) already invited; api key ${ctx.secret('LEAKY_API_KEY')}`,
            false,
            id,
          );
        },
      }),
      { LOG_LEVEL: 'trace' },
    );
    try {
      expect(await until(() => gw.logLines.some((l) => l.includes(REFUSED)))).toBe(true);
      const text = gw.logLines.join('\n');
      for (const leaked of [API_KEY, 'leaky.candidate@', '7700900123'])
        expect(text, `${leaked} in the log`).not.toContain(leaked);
      // What went wrong still shows.
      expect(text).toContain('already invited');
    } finally {
      await gw.close();
    }
  });

  // maskCandidateIn used to match the exact strings Feishu sent; the log's net knows only a bare 11-digit
  // mainland number and a literal `@`.
  const formatted = {
    name: 'Format Candidate',
    mobile: { code: '86', number: '13800138000' },
    email: 'format.candidate@example.org',
  };
  const refusedWith = async (examId: string, message: string) => {
    const gw = await echoingGateway(examId, formatted, (_ctx, id) => ({
      createExam: async () => {
        throw new ProviderError(message, false, id);
      },
    }));
    try {
      expect(await until(() => gw.logLines.some((l) => l.includes(REFUSED)))).toBe(true);
      return gw.logLines.filter((l) => l.includes(REFUSED)).map((l) => String(JSON.parse(l).reason));
    } finally {
      await gw.close();
    }
  };
  for (const [i, shown] of ['+86 138 0013 8000', '+86-138-0013-8000', '138 0013 8000'].entries())
    it(`masks the candidate's phone written as "${shown}"`, async () => {
      const [reason] = await refusedWith(`fmt-${i}`, `candidate ${shown} is already invited to this test`);
      expect(reason).toContain('already invited');
      expect(reason?.replace(/\D/g, '')).not.toContain('13800138000');
    });

  it("masks the candidate's email percent-encoded in a URL the platform repeats", async () => {
    const [reason] = await refusedWith(
      'fmt-url',
      `GET /v1/candidates/${encodeURIComponent(formatted.email)} answered 409 Conflict`,
    );
    expect(reason).toContain('answered 409');
    expect(decodeURIComponent(reason ?? '')).not.toContain('format.candidate@');
  });

  // The worker masks the candidate in every job's failure, not only the arrangement's: here a UK number,
  // whose shape the log's net does not know.
  it("a result poll's error: logged without the candidate's phone", async () => {
    const known = new Map<string, string>();
    const feishu = await recordingPlatform();
    const gw = await echoingGateway(
      'poll-1',
      { name: 'Poll Candidate', mobile: { code: '44', number: '7700900123' } },
      (_ctx, id) => ({
        createExam: async (request) => {
          known.set(request.examId, `+${request.candidate.mobile?.code} ${request.candidate.mobile?.number}`);
          return { examUrl: 'https://exam.example/x', platformExamId: 'p-1' };
        },
        fetchResult: async (ref) => {
          throw new ProviderError(
            `candidate ${known.get(ref.examId)} has not started the test yet`,
            true,
            id,
          );
        },
      }),
      { FEISHU_DOMAIN: feishu.url, RESULT_POLL_INTERVAL_MS: '200' },
    );
    try {
      const failed = () =>
        gw.logLines.filter((l) => l.includes('"kind":"poll_result"') && l.includes('failed'));
      expect(await until(() => failed().length > 0)).toBe(true);
      expect(failed()[0]).toContain('has not started the test yet');
      expect(gw.logLines.join('\n')).not.toContain('7700900123');
    } finally {
      await gw.close();
      await feishu.close();
    }
  });

  // The refusal is kept as the exam's failure reason, shown on the staff card and sent to the customer's
  // Hire (login_info's msg): the log line was clean (keepOutOfLog), what left the process was not.
  it("is sent to the customer's Hire (login_info's msg) without the platform's API key", async () => {
    const feishu = await recordingPlatform();
    const gw = await echoingGateway(
      'key-1',
      { name: 'A' },
      (ctx, id) => ({
        createExam: async () => {
          throw new ProviderError(`invitation refused for api key ${ctx.secret('LEAKY_API_KEY')}`, false, id);
        },
      }),
      { FEISHU_DOMAIN: feishu.url },
    );
    try {
      const loginInfo = () => feishu.calls.find((c) => c.path.includes('/login_info'));
      expect(await until(() => loginInfo() !== undefined)).toBe(true);
      expect(JSON.stringify(loginInfo()?.body)).toContain('invitation refused for api key');
      const sent = feishu.calls.map((c) => `${c.method} ${c.path} ${JSON.stringify(c.body)}`).join('\n');
      expect(sent).not.toContain(API_KEY);
      expect(gw.logLines.join('\n')).not.toContain(API_KEY);
    } finally {
      await gw.close();
      await feishu.close();
    }
  });
});

describe("a provider's secret whose variable's name does not say it is one", () => {
  it('is written out of every log line once the provider has read it (QUIZLY_PIN, not *_KEY or *_SECRET)', async () => {
    const PIN = 'quizly-pin-2718281828';
    const file = join(mkdtempSync(join(tmpdir(), 'feishu-exam-providers-')), 'providers.yaml');
    writeFileSync(
      file,
      [
        'defaultProvider: quizly',
        'providers:',
        '  - id: quizly',
        '    type: http',
        '    options:',
        '      baseUrl: https://api.quizly.example',
        '      headers:',
        '        x-pin: "{{secrets.QUIZLY_PIN}}"',
        '      createExam:',
        '        path: /sittings',
        '        body: { reference: "{{exam.id}}" }',
        '        response: { examUrl: $.url }',
        '',
      ].join('\n'),
    );
    // Read by the provider from the process's environment, as in production.
    process.env.QUIZLY_PIN = PIN;
    const gw = await startTestGateway({ LOG_LEVEL: 'info', PROVIDERS_FILE: file });
    try {
      // The access log writes a refused request's path: here, one that carries the secret.
      const response = await fetch(`${gw.url}/leak/${PIN}`);
      expect(response.status).toBe(404);
      expect(await until(() => gw.logLines.some((l) => l.includes('/leak/')))).toBe(true);
      expect(gw.logLines.join('\n')).not.toContain(PIN);
    } finally {
      await gw.close();
      delete process.env.QUIZLY_PIN;
    }
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  boundProvider,
  createProviderRegistry,
  defaultProviderContext,
  defineProvider,
  type ExamProvider,
  type ExamResult,
  isBoundedProvider,
  isProviderError,
  type ProviderError,
  type ProviderFactory,
} from '../src/index.js';

/** A provider that answers whatever the test puts here, as a careless or hostile platform would. */
let answer: { arrangement?: unknown; result?: unknown; webhook?: unknown; papers?: unknown } = {};
const loose = defineProvider({
  id: 'loose',
  options: z.object({}).strict(),
  create: (_options, _ctx, id): ExamProvider => ({
    id,
    createExam: async () => answer.arrangement as never,
    listPapers: async () => answer.papers as never,
    fetchResult: async () => answer.result as never,
    parseResultWebhook: async () => answer.webhook as never,
  }),
});
const build = () => {
  const built = loose.build({}, defaultProviderContext({}));
  if (!built.ok) throw new Error(built.errors.join());
  return built.provider;
};
const refusal = (promise: Promise<unknown> | undefined) =>
  (promise as Promise<unknown>).then(
    () => {
      throw new Error('expected a refusal');
    },
    (err: unknown) => {
      expect(isProviderError(err), String(err)).toBe(true);
      expect((err as ProviderError).retryable).toBe(false);
      return (err as ProviderError).message;
    },
  );
const request = { examId: 'e-1', candidate: {} };
const ref = { examId: 'e-1' };
const good: ExamResult = {
  score: '87.5',
  resultTime: 1_700_000_000_000,
  reports: [{ name: 'Report', url: 'https://platform.example/r/1', answerTime: 1_700_000_000_000 }],
  details: [{ name: 'Logic', result: '40' }],
};

describe('bounded provider answers', () => {
  it('passes good answers through unchanged', async () => {
    const provider = build();
    answer = { arrangement: { examUrl: 'https://platform.example/x', username: 'u', password: 'p' } };
    expect(await provider.createExam(request)).toEqual(answer.arrangement);
    answer = { result: good, webhook: [{ examId: 'e-1', result: good }] };
    expect(await provider.fetchResult?.(ref)).toEqual(good);
    expect(await provider.parseResultWebhook?.({ headers: {}, rawBody: new Uint8Array() })).toEqual([
      { examId: 'e-1', result: good },
    ]);
    answer = { result: undefined };
    expect(await provider.fetchResult?.(ref)).toBeUndefined();
  });

  it('refuses a 500 KB score, naming the field and the limit but not the value', async () => {
    const huge = '9'.repeat(500_000);
    answer = { result: { ...good, score: huge }, webhook: [{ examId: 'e-1', result: { score: huge } }] };
    const provider = build();
    const message = await refusal(provider.fetchResult?.(ref));
    expect(message).toMatch(/score: must be at most 64 characters/);
    expect(message).not.toContain('9999');
    expect(message.length).toBeLessThan(300);
    expect(await refusal(provider.parseResultWebhook?.({ headers: {}, rawBody: new Uint8Array() }))).toMatch(
      /results\[0\]\.result\.score: must be at most 64 characters/,
    );
  });

  it('accepts only http(s) URLs: javascript:, data:, relative and overlong ones are refused', async () => {
    const provider = build();
    for (const url of [
      'javascript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'file:///etc/passwd',
      '/relative/report',
      `https://platform.example/${'a'.repeat(2048)}`,
    ]) {
      answer = { result: { ...good, reports: [{ name: 'Report', url }] } };
      const message = await refusal(provider.fetchResult?.(ref));
      expect(message).toMatch(
        /reports\[0\]\.url: must be (an absolute http\(s\) URL|at most 2048 characters)/,
      );
      expect(message).not.toContain(url.slice(0, 12));
      answer = { arrangement: { examUrl: url } };
      expect(await refusal(provider.createExam(request))).toMatch(/examUrl: must be/);
    }
  });

  it('bounds names, detail results, credentials, ids and how many reports and details there are', async () => {
    const provider = build();
    const long = 'x'.repeat(256);
    const cases: Array<[unknown, RegExp]> = [
      [{ ...good, reports: [{ name: long, url: 'https://p.example/r' }] }, /reports\[0\]\.name: .*255/],
      [{ ...good, details: [{ name: 'n', result: long }] }, /details\[0\]\.result: .*255/],
      [{ ...good, details: [{ id: long, name: 'n', result: '1' }] }, /details\[0\]\.id: .*255/],
      [{ ...good, resultTime: 1.5 }, /resultTime: must be whole epoch milliseconds/],
      [{ ...good, score: '' }, /score: must not be empty/],
      [{ ...good, score: 87 }, /score: /],
      [
        { ...good, reports: Array.from({ length: 21 }, () => ({ name: 'r', url: 'https://p.example/r' })) },
        /reports: must hold at most 20 reports/,
      ],
    ];
    for (const [result, pattern] of cases) {
      answer = { result };
      expect(await refusal(provider.fetchResult?.(ref))).toMatch(pattern);
    }
    for (const field of ['username', 'password', 'platformExamId'] as const) {
      answer = { arrangement: { examUrl: 'https://p.example/x', [field]: long } };
      expect(await refusal(provider.createExam(request))).toMatch(new RegExp(`${field}: .*255`));
    }
    answer = { webhook: [{ examId: long, result: good }] };
    expect(await refusal(provider.parseResultWebhook?.({ headers: {}, rawBody: new Uint8Array() }))).toMatch(
      /results\[0\]\.examId: .*255/,
    );
    answer = { papers: [{ id: 'p1', name: long }] };
    expect(await refusal(provider.listPapers?.(undefined))).toMatch(/papers\[0\]\.name: .*255/);
  });

  it("refuses a paper whose end is not after its start (Feishu's eco_exam_paper refuses the whole list)", async () => {
    const provider = build();
    const at = 1_700_000_000_000;
    for (const endTime of [at, at - 60_000]) {
      answer = {
        papers: [
          { id: 'p1', name: 'ok' },
          { id: 'p2', name: 'timed', startTime: at, endTime },
        ],
      };
      expect(await refusal(provider.listPapers?.(undefined))).toMatch(
        /papers\[1\]\.endTime: must be after startTime/,
      );
    }
    const open = [
      { id: 'p1', name: 'from', startTime: at },
      { id: 'p2', name: 'until', endTime: at },
      { id: 'p3', name: 'window', startTime: at, endTime: at + 1 },
    ];
    answer = { papers: open };
    expect(await provider.listPapers?.(undefined)).toEqual(open);
  });

  it('takes a paper id as the platform names it, but not one with a control character (event-core would refuse its exams)', async () => {
    const provider = build();
    const named = [
      { id: 'aptitude.v2 (2024)', name: 'dots, spaces' },
      { id: '编程 · 初级', name: 'not ASCII' },
      { id: 'p'.repeat(255), name: 'as long as Feishu takes' },
    ];
    answer = { papers: named };
    expect(await provider.listPapers?.(undefined)).toEqual(named);
    for (const id of ['paper\n2', 'tab\there', 'nul\u0000', 'del\u007f']) {
      answer = {
        papers: [
          { id: 'p1', name: 'ok' },
          { id, name: 'broken' },
        ],
      };
      expect(await refusal(provider.listPapers?.(undefined))).toMatch(
        /papers\[1\]\.id: must not hold a control character/,
      );
    }
  });

  it('refuses a list of papers that gives one id twice (published as a full replace, deleted by id)', async () => {
    const provider = build();
    answer = {
      papers: [
        { id: 'p1', name: 'one' },
        { id: 'p2', name: 'two' },
        { id: 'p1', name: 'one again' },
      ],
    };
    expect(await refusal(provider.listPapers?.(undefined))).toMatch(
      /papers\[2\]\.id: paper id p1 is given twice/,
    );
  });

  it('the registry bounds a provider even when its factory does not come from defineProvider', async () => {
    const handMade: ProviderFactory = {
      id: 'hand',
      options: z.object({}),
      build: () => ({
        ok: true,
        provider: { id: 'hand', createExam: async () => ({ examUrl: 'javascript:alert(1)' }) },
      }),
    };
    const result = createProviderRegistry(
      [handMade],
      { providers: [{ id: 'hand', type: 'hand' }] },
      defaultProviderContext({}),
    );
    if (!result.ok) throw new Error(result.errors.join());
    const provider = result.registry.get('hand') as ExamProvider;
    expect(isBoundedProvider(provider)).toBe(true);
    expect(await refusal(provider.createExam(request))).toMatch(/examUrl: must be an absolute http\(s\) URL/);
    // Bounding twice is the same as once.
    expect(boundProvider(provider)).toBe(provider);
    expect(isBoundedProvider(build())).toBe(true);
  });

  it('keeps the optional methods a provider has, and adds none it lacks', () => {
    const bare = boundProvider({ id: 'bare', createExam: async () => ({ examUrl: 'https://p.example' }) });
    expect(bare.fetchResult).toBeUndefined();
    expect(bare.parseResultWebhook).toBeUndefined();
    expect(bare.listPapers).toBeUndefined();
    expect(bare.cancelExam).toBeUndefined();
  });
});

describe('boundProvider keeps what the gateway reads from a provider', () => {
  it('the call timeout (the lease is planned from it) and the simulated flag survive the wrapper', () => {
    const wrapped = boundProvider({
      id: 'p',
      callTimeoutMs: 12_345,
      simulated: true,
      createExam: async () => ({ examUrl: 'https://exam.example/e' }),
    });
    expect(wrapped.callTimeoutMs).toBe(12_345);
    expect(wrapped.simulated).toBe(true);
    expect(
      boundProvider({ id: 'q', createExam: async () => ({ examUrl: 'https://e.example' }) }).simulated,
    ).toBeUndefined();
  });
});

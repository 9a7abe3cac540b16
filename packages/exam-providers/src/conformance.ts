// The provider conformance kit: every provider package runs it in its own vitest suite, as storage drivers
// run a shared contract suite. Imported from '@feishu-exam/exam-providers/conformance' (it needs vitest).
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { isBoundedProvider } from './bounds.js';
import {
  type Arrangement,
  arrangementSchema,
  type ExamProvider,
  type ExamRef,
  type ExamRequest,
  examResultSchema,
  isProviderError,
  type ProviderContext,
  type ProviderError,
  paperSchema,
  type WebhookRequest,
  webhookResultsSchema,
} from './contract.js';
import { defaultProviderContext, type ProviderFactory } from './define.js';

export interface ConformanceFixtures {
  /** Options that build a working provider. */
  readonly options: unknown;
  /** Options the provider must refuse at start. */
  readonly invalidOptions: readonly unknown[];
  /** An exam the provider can arrange. */
  readonly request: ExamRequest;
  /** Ways it must fail, and whether each failure is worth retrying. */
  readonly failures?: ReadonlyArray<{
    readonly name: string;
    readonly options?: unknown;
    readonly request?: ExamRequest;
    readonly retryable: boolean;
  }>;
  /** Context for the provider (a fake platform's fetch, a fixed clock, secrets). Default: the process's. */
  readonly context?: Partial<ProviderContext>;
  /** How long one call may take before the kit calls it hung. Default 10 s. */
  readonly timeoutMs?: number;
  /** How to get results from the provider, if it gives any; the kit checks them against the contract's bounds. */
  readonly results?: {
    /**
     * For fetchResult: the exam to read once `request` is arranged, given its arrangement (the fixture may
     * have its fake platform finish the exam first).
     */
    readonly ref?: (arrangement: Arrangement) => ExamRef | Promise<ExamRef>;
    /** For parseResultWebhook: a request the platform would send, signed as it signs them. */
    readonly webhook?: WebhookRequest;
  };
}

/** Whether the value is within the contract's bounds; the issues (paths and limits) as the failure message. */
function expectWithinBounds(schema: z.ZodType, value: unknown, what: string): void {
  const parsed = schema.safeParse(value);
  const issues = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`);
  expect(issues, `${what} outside the contract's bounds`).toEqual([]);
}

function build(factory: ProviderFactory, options: unknown, fixtures: ConformanceFixtures): ExamProvider {
  const built = factory.build(options, { ...defaultProviderContext(), ...fixtures.context });
  if (!built.ok) throw new Error(`the fixture options do not build: ${built.errors.join('; ')}`);
  return built.provider;
}

async function withinBound<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`${what} did not settle within ${ms} ms: a provider must time out its own calls`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

export function runProviderConformance(factory: ProviderFactory, fixtures: ConformanceFixtures): void {
  const bound = fixtures.timeoutMs ?? 10_000;

  describe(`provider ${factory.id}: conformance`, () => {
    it('builds from valid options, and refuses invalid ones with errors naming the provider and the option', () => {
      expect(factory.build(fixtures.options, { ...defaultProviderContext(), ...fixtures.context }).ok).toBe(
        true,
      );
      for (const invalid of fixtures.invalidOptions) {
        const built = factory.build(invalid, defaultProviderContext());
        expect(built.ok, JSON.stringify(invalid)).toBe(false);
        if (!built.ok) for (const error of built.errors) expect(error).toContain(factory.id);
      }
    });

    it('arranges an exam: an absolute http(s) exam URL, optional credentials as strings', async () => {
      const arrangement = await withinBound(
        build(factory, fixtures.options, fixtures).createExam(fixtures.request),
        bound,
        'createExam',
      );
      expect(new URL(arrangement.examUrl).protocol).toMatch(/^https?:$/);
      for (const field of ['username', 'password', 'platformExamId'] as const) {
        if (arrangement[field] !== undefined) expect(typeof arrangement[field]).toBe('string');
      }
      for (const field of ['startTime', 'endTime'] as const) {
        if (arrangement[field] !== undefined) expect(Number.isFinite(arrangement[field])).toBe(true);
      }
      expectWithinBounds(arrangementSchema, arrangement, 'the arrangement');
    });

    it('bounds every answer (lengths, http(s) URLs) before the gateway sees it, refusing the rest for good', () => {
      expect(isBoundedProvider(build(factory, fixtures.options, fixtures))).toBe(true);
    });

    it('gives results within the contract’s bounds: score ≤ 64, names ≤ 255, http(s) URLs ≤ 2048', async () => {
      const provider = build(factory, fixtures.options, fixtures);
      const { ref, webhook } = fixtures.results ?? {};
      if (ref && provider.fetchResult) {
        const arrangement = await withinBound(provider.createExam(fixtures.request), bound, 'createExam');
        const result = await withinBound(provider.fetchResult(await ref(arrangement)), bound, 'fetchResult');
        expect(result, 'fetchResult gave no result for the fixture’s finished exam').toBeDefined();
        expectWithinBounds(examResultSchema, result, 'the fetched result');
      }
      if (webhook && provider.parseResultWebhook) {
        const results = await withinBound(provider.parseResultWebhook(webhook), bound, 'parseResultWebhook');
        expect(results.length).toBeGreaterThan(0);
        expectWithinBounds(webhookResultsSchema, results, 'the webhook results');
      }
    });

    it('is idempotent for one exam id: arranging it again gives the same exam, not a second one', async () => {
      const provider = build(factory, fixtures.options, fixtures);
      const first = await withinBound(provider.createExam(fixtures.request), bound, 'createExam');
      const again = await withinBound(provider.createExam(fixtures.request), bound, 'createExam (again)');
      expect(again.examUrl).toBe(first.examUrl);
      expect(again.platformExamId).toBe(first.platformExamId);
    });

    for (const failure of fixtures.failures ?? []) {
      it(`fails with a ProviderError, retryable: ${failure.retryable} (${failure.name})`, async () => {
        const provider = build(factory, failure.options ?? fixtures.options, fixtures);
        const error = await withinBound(
          provider.createExam(failure.request ?? fixtures.request),
          bound,
          'createExam',
        ).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isProviderError(error), `expected a ProviderError, got ${String(error)}`).toBe(true);
        expect((error as ProviderError).retryable).toBe(failure.retryable);
        expect((error as ProviderError).message.length).toBeGreaterThan(0);
      });
    }

    it('lists papers Feishu can take (ids and names of at most 255 characters), if it lists papers', async () => {
      const provider = build(factory, fixtures.options, fixtures);
      if (!provider.listPapers) return;
      const papers = await withinBound(provider.listPapers(fixtures.request.account), bound, 'listPapers');
      expect(Array.isArray(papers)).toBe(true);
      for (const paper of papers) expectWithinBounds(paperSchema, paper, `paper ${paper.id}`);
      expect(new Set(papers.map((p) => p.id)).size).toBe(papers.length);
    });
  });
}

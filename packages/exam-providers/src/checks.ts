// The provider conformance checks, as plain async functions: the vitest kit ('./conformance') runs each as a
// test, and `feishu-exam providers test` runs them against a live platform, printing each as it passes.
import type { z } from 'zod';
import { isBoundedProvider } from './bounds.js';
import {
  type AccountField,
  type Arrangement,
  arrangementSchema,
  type ExamProvider,
  type ExamRef,
  type ExamRequest,
  examResultSchema,
  isProviderError,
  type ProviderContext,
  type ProviderError,
  paperListSchema,
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
     * have its fake platform finish the exam first). Before it is called, the exam is unfinished: fetchResult
     * must answer undefined then.
     */
    readonly ref?: (arrangement: Arrangement) => ExamRef | Promise<ExamRef>;
    /** For parseResultWebhook: a request the platform would send, signed as it signs them. */
    readonly webhook?: WebhookRequest;
    /**
     * Requests the provider must refuse (a forged or missing signature). Default: the webhook with one byte
     * more in its body, which no signature over the body survives.
     */
    readonly forgedWebhooks?: readonly WebhookRequest[];
  };
  /** For listPapers: how many papers the fake platform has in all (more than one page, to see pages followed). */
  readonly papers?: { readonly total: number };
}

/** One check of the kit: its name, and a run that throws (a ConformanceFailure) when the provider fails it. */
export interface ConformanceCheck {
  readonly name: string;
  run(): Promise<void>;
}

export class ConformanceFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceFailure';
  }
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}

/** The issues (paths and limits) of a value outside the contract's bounds. */
function checkWithinBounds(schema: z.ZodType, value: unknown, what: string): void {
  const parsed = schema.safeParse(value);
  if (parsed.success) return;
  const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  throw new ConformanceFailure(`${what} outside the contract's bounds: ${issues.join('; ')}`);
}

async function withinBound<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ConformanceFailure(
            `${what} did not settle within ${ms} ms: a provider must time out its own calls`,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Account field keys: Feishu states no format, but a key is sent back in every account event and stored
 * forever (a deleted key can never be reused), so the kit holds keys to the shape of Feishu's own ids.
 */
const ACCOUNT_FIELD_KEY = /^[A-Za-z0-9_-]{1,64}$/;

function checkAccountFields(fields: readonly AccountField[]): void {
  const keys = new Set<string>();
  for (const field of fields) {
    check(
      ACCOUNT_FIELD_KEY.test(field.key),
      `account field key "${field.key}" must be 1 to 64 letters, digits, _ or -`,
    );
    check(!keys.has(field.key), `account field key "${field.key}" is declared twice`);
    keys.add(field.key);
    check(
      Boolean(field.name.zh_cn || field.name.en_us),
      `account field ${field.key} needs a name (zh_cn or en_us): customers see it when they bind`,
    );
    check(typeof field.required === 'boolean', `account field ${field.key}: required must be true or false`);
  }
}

/** The kit's checks for one provider factory; those that do not apply (no listPapers, no webhook) are left out. */
export function conformanceChecks(
  factory: ProviderFactory,
  fixtures: ConformanceFixtures,
): ConformanceCheck[] {
  const bound = fixtures.timeoutMs ?? 10_000;
  const context = { ...defaultProviderContext(), ...fixtures.context };
  const build = (options: unknown = fixtures.options): ExamProvider => {
    const built = factory.build(options, context);
    if (!built.ok) throw new ConformanceFailure(`the options do not build: ${built.errors.join('; ')}`);
    return built.provider;
  };
  const arrange = (provider: ExamProvider, what = 'createExam') =>
    withinBound(provider.createExam(fixtures.request), bound, what);
  // Probed once, to know which optional checks apply; a factory that cannot build fails the first check.
  const probe = factory.build(fixtures.options, context);
  const sample = probe.ok ? probe.provider : undefined;
  const { ref, webhook } = fixtures.results ?? {};

  const checks: ConformanceCheck[] = [
    {
      name: 'builds from valid options, and refuses invalid ones with errors naming the provider and the option',
      async run() {
        build();
        for (const invalid of fixtures.invalidOptions) {
          const built = factory.build(invalid, defaultProviderContext());
          check(!built.ok, `the invalid options ${JSON.stringify(invalid)} were accepted`);
          if (!built.ok)
            for (const error of built.errors)
              check(
                error.includes(factory.id),
                `the error "${error}" does not name the provider ${factory.id}`,
              );
        }
      },
    },
    {
      name: 'arranges an exam: an absolute http(s) exam URL, optional credentials as strings',
      async run() {
        const arrangement = await arrange(build());
        check(/^https?:$/.test(new URL(arrangement.examUrl).protocol), 'the exam URL is not http(s)');
        checkWithinBounds(arrangementSchema, arrangement, 'the arrangement');
      },
    },
    {
      name: 'bounds every answer (lengths, http(s) URLs) before the gateway sees it, refusing the rest for good',
      async run() {
        check(isBoundedProvider(build()), 'the provider is not bounded (build it with defineProvider)');
      },
    },
    {
      name: 'is idempotent for one exam id: arranging it again gives the same exam, not a second one',
      async run() {
        const provider = build();
        const first = await arrange(provider);
        const again = await arrange(provider, 'createExam (again)');
        check(
          again.examUrl === first.examUrl,
          `arranged again, the exam URL changed: a second exam was made`,
        );
        check(again.platformExamId === first.platformExamId, 'arranged again, the platform exam id changed');
      },
    },
  ];

  for (const failure of fixtures.failures ?? []) {
    checks.push({
      name: `fails with a ProviderError, retryable: ${failure.retryable} (${failure.name})`,
      async run() {
        const provider = build(failure.options ?? fixtures.options);
        const error = await withinBound(
          provider.createExam(failure.request ?? fixtures.request),
          bound,
          'createExam',
        ).then(
          () => undefined,
          (e: unknown) => e,
        );
        check(isProviderError(error), `expected a ProviderError, got ${String(error)}`);
        check(
          (error as ProviderError).retryable === failure.retryable,
          `retryable is ${(error as ProviderError).retryable}, expected ${failure.retryable}`,
        );
        check((error as ProviderError).message.length > 0, 'the error has no message for the staff');
      },
    });
  }

  if (sample?.fetchResult)
    checks.push({
      name: 'fetchResult: undefined until the exam is finished, then a result within bounds (score ≤ 64, names ≤ 255, http(s) URLs)',
      async run() {
        const provider = build();
        const arrangement = await arrange(provider);
        const unfinished = { examId: fixtures.request.examId, platformExamId: arrangement.platformExamId };
        const before = await withinBound(
          provider.fetchResult?.(unfinished) as Promise<unknown>,
          bound,
          'fetchResult',
        );
        if (!ref) {
          // Live: nobody finishes the exam; whatever the platform says must still be a valid answer.
          if (before !== undefined) checkWithinBounds(examResultSchema, before, 'the fetched result');
          return;
        }
        check(
          before === undefined,
          `fetchResult gave a result for an exam nobody finished: ${JSON.stringify(before)}`,
        );
        const result = await withinBound(
          provider.fetchResult?.(await ref(arrangement)) as Promise<unknown>,
          bound,
          'fetchResult',
        );
        check(result !== undefined, 'fetchResult gave no result for the fixture’s finished exam');
        checkWithinBounds(examResultSchema, result, 'the fetched result');
      },
    });

  if (sample?.parseResultWebhook && webhook)
    checks.push({
      name: 'parseResultWebhook: a valid request yields results within bounds; a forged signature is refused',
      async run() {
        const provider = build();
        const results = await withinBound(
          provider.parseResultWebhook?.(webhook) as Promise<unknown[]>,
          bound,
          'parseResultWebhook',
        );
        check(results.length > 0, 'a valid webhook yielded no results');
        checkWithinBounds(webhookResultsSchema, results, 'the webhook results');
        const forged = fixtures.results?.forgedWebhooks ?? [
          {
            headers: webhook.headers,
            rawBody: Buffer.concat([Buffer.from(webhook.rawBody), Buffer.from(' ')]),
          },
        ];
        for (const request of forged) {
          const outcome = await withinBound(
            provider.parseResultWebhook?.(request) as Promise<unknown[]>,
            bound,
            'parseResultWebhook',
          ).then(
            () => 'accepted',
            () => 'refused',
          );
          check(outcome === 'refused', 'a webhook whose signature does not match its body was accepted');
        }
      },
    });

  if (sample?.listPapers)
    checks.push({
      name: 'listPapers: papers Feishu can take (ids and names ≤ 255), ids unique, every page followed',
      async run() {
        const provider = build();
        const papers = await withinBound(
          provider.listPapers?.(fixtures.request.account) as Promise<unknown[]>,
          bound,
          'listPapers',
        );
        check(Array.isArray(papers), 'listPapers did not give a list');
        checkWithinBounds(paperListSchema, papers, 'the papers');
        if (fixtures.papers)
          check(
            papers.length === fixtures.papers.total,
            `listPapers gave ${papers.length} papers of ${fixtures.papers.total}: are later pages followed?`,
          );
      },
    });

  if (sample?.accountFields)
    checks.push({
      name: 'accountFields: keys Feishu can store (1 to 64 of A-Z a-z 0-9 _ -), unique, each with a name',
      async run() {
        checkAccountFields(build().accountFields ?? []);
      },
    });

  return checks;
}

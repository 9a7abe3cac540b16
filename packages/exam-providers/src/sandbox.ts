import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import {
  type Arrangement,
  type ExamProvider,
  type ExamRequest,
  type ExamResult,
  type ProviderContext,
  ProviderError,
  type WebhookRequest,
  type WebhookResults,
} from './contract.js';
import { defaultProviderContext, defineProvider, OptionsError } from './define.js';

/**
 * The environment variable holding the secret that signs the sandbox's result webhooks:
 * `x-sandbox-signature` = hex HMAC-SHA256(secret, raw body). Without it the sandbox takes no result webhook.
 */
export const SANDBOX_WEBHOOK_SECRET_ENV = 'SANDBOX_WEBHOOK_SECRET';
const WEBHOOK_SECRET_MIN_LENGTH = 16;
/** The secret that once shipped as the default: public, so never accepted. */
const PUBLISHED_SECRET = 'sandbox-webhook-secret';

const paper = z.object({
  id: z.string().min(1).max(255),
  name: z.string().min(1).max(255),
  durationMinutes: z.number().int().positive().optional(),
  questionCount: z.number().int().positive().optional(),
});

export const sandboxOptions = z
  .object({
    /** Milliseconds each createExam waits, to imitate a real platform. */
    latencyMs: z.number().int().min(0).default(0),
    /** Probability (0..1) that a call fails with a retryable error. */
    failureRate: z.number().min(0).max(1).default(0),
    /** Papers whose exams fail for good, to show the failure path. */
    failingPaperIds: z.array(z.string()).default([]),
    baseUrl: z.url({ protocol: /^https?$/ }).default('https://sandbox.exam.invalid'),
    // The secret once had a default that shipped in the source, so anyone could sign results. It now
    // comes from the environment only; an options file that still sets it is told so at start.
    webhookSecret: z
      .undefined({
        error: `is no longer an option: set the environment variable ${SANDBOX_WEBHOOK_SECRET_ENV}`,
      })
      .optional(),
    papers: z.array(paper).default([
      { id: 'paper001', name: 'Sandbox: general aptitude', durationMinutes: 60, questionCount: 30 },
      { id: 'paper002', name: 'Sandbox: programming', durationMinutes: 90, questionCount: 5 },
    ]),
  })
  .strict();

/** What the sandbox platform posts when a candidate finishes. */
const sandboxResult = z.object({
  exam_id: z.string().min(1),
  score: z.string().min(1),
  /** When the candidate finished: epoch milliseconds. */
  finished_at: z.number().int().optional(),
  report_url: z.url().optional(),
  sections: z.array(z.object({ name: z.string(), score: z.string() })).optional(),
});

export type SandboxOptions = z.input<typeof sandboxOptions>;

/**
 * An offline exam platform for the demo and tests. Deterministic: the same exam id always yields the same
 * arrangement, which is what idempotency on retries requires of every real provider too.
 */
export const sandboxProvider = defineProvider({
  id: 'sandbox',
  options: sandboxOptions,
  create(options, ctx, instanceId): ExamProvider {
    const configured = ctx.secret(SANDBOX_WEBHOOK_SECRET_ENV);
    // Set but blank is unset (as the gateway reads its own secrets); otherwise used exactly as given.
    const webhookSecret = configured?.trim() ? configured : undefined;
    if (webhookSecret !== undefined && webhookSecret.length < WEBHOOK_SECRET_MIN_LENGTH) {
      throw new OptionsError([
        {
          path: [],
          message: `the secret ${SANDBOX_WEBHOOK_SECRET_ENV} is shorter than ${WEBHOOK_SECRET_MIN_LENGTH} characters; use a long random value, e.g. openssl rand -hex 32`,
        },
      ]);
    }
    if (webhookSecret === PUBLISHED_SECRET) {
      throw new OptionsError([
        {
          path: [],
          message: `the secret ${SANDBOX_WEBHOOK_SECRET_ENV} is the old default published in the source; use a long random value, e.g. openssl rand -hex 32`,
        },
      ]);
    }
    return {
      id: instanceId,
      simulated: true,
      accountFields: [
        {
          key: 'org_code',
          name: { zh_cn: '机构代码', en_us: 'Organization code' },
          required: false,
          description: {
            zh_cn: '您在沙箱考试平台上的机构代码',
            en_us: 'Your organization code on the sandbox exam platform',
          },
        },
      ],
      async createExam(request: ExamRequest): Promise<Arrangement> {
        if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
        if (request.paperId && options.failingPaperIds.includes(request.paperId)) {
          throw new ProviderError(
            `paper ${request.paperId} is not available on the sandbox platform`,
            false,
            instanceId,
          );
        }
        if (options.failureRate && Math.random() < options.failureRate) {
          throw new ProviderError('the sandbox platform is temporarily unavailable', true, instanceId);
        }
        const digest = createHash('sha256').update(`sandbox:${request.examId}`).digest('hex');
        return {
          examUrl: `${options.baseUrl}/exams/${encodeURIComponent(request.examId)}?k=${digest.slice(0, 16)}`,
          username: request.candidate.email ?? `candidate-${digest.slice(0, 8)}`,
          password: digest.slice(16, 28),
          platformExamId: `sbx-${digest.slice(0, 12)}`,
        };
      },
      async listPapers() {
        return options.papers.map((p) => ({ ...p }));
      },
      // Off without a secret: the gateway then answers 404 for this provider's webhook.
      ...(webhookSecret === undefined
        ? {}
        : { parseResultWebhook: resultWebhook(webhookSecret, instanceId) }),
    };
  },
});

/** Reads the sandbox platform's signed result webhook. */
function resultWebhook(secret: string, instanceId: string) {
  return async (request: WebhookRequest): Promise<WebhookResults> => {
    const presented = request.headers['x-sandbox-signature'];
    const expected = createHmac('sha256', secret).update(request.rawBody).digest();
    const given =
      typeof presented === 'string' && /^[0-9a-f]{64}$/.test(presented)
        ? Buffer.from(presented, 'hex')
        : undefined;
    if (!given || !timingSafeEqual(given, expected)) {
      throw new ProviderError(
        'the result webhook is not signed with the sandbox webhook secret',
        false,
        instanceId,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(request.rawBody).toString('utf8'));
    } catch {
      // Signed, so from the platform, but unreadable: a validation error (422), not a bad signature (401).
      throw new ProviderError('the result webhook is not JSON', false, instanceId, {
        code: 'invalid_answer',
      });
    }
    const parsed = sandboxResult.safeParse(body);
    if (!parsed.success)
      throw new ProviderError(
        `the result webhook is malformed: ${parsed.error.issues[0]?.message}`,
        false,
        instanceId,
        { code: 'invalid_answer' },
      );
    const r = parsed.data;
    const result: ExamResult = {
      score: r.score,
      resultTime: r.finished_at,
      reports: r.report_url
        ? [{ name: 'Sandbox report', url: r.report_url, answerTime: r.finished_at }]
        : undefined,
      details: r.sections?.map((s) => ({ name: s.name, result: s.score })),
    };
    return [{ examId: r.exam_id, result }];
  };
}

/**
 * The sandbox with its options checked; throws on bad options (for code that builds it directly). Its
 * result webhook is on only when the context has SANDBOX_WEBHOOK_SECRET (the process's environment by default).
 */
export function createSandboxProvider(
  options: SandboxOptions = {},
  ctx: ProviderContext = defaultProviderContext(),
): ExamProvider {
  const built = sandboxProvider.build(options, ctx);
  if (!built.ok) throw new Error(built.errors.join('\n'));
  return built.provider;
}

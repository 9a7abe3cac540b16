/**
 * The contract between the gateway and an exam platform. Providers never see Feishu types or Koa: the
 * gateway turns an exam event into an ExamRequest, and an Arrangement or an ExamResult back into Feishu's
 * login_info and update_result.
 */
import { z } from 'zod';

/** What a provider may use from its surroundings. Injected, so tests need no global patching. */
export interface ProviderContext {
  readonly fetch: typeof fetch;
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** A secret from the environment, by name. Never log what it returns. */
  readonly secret: (name: string) => string | undefined;
}

/** A customer's account with the vendor, bound in Feishu Hire; `fields` are the custom-field values. */
export interface BoundAccount {
  readonly accountId: string;
  readonly name?: string | undefined;
  readonly fields: Readonly<Record<string, string>>;
}

export interface Candidate {
  readonly name?: string | undefined;
  readonly email?: string | undefined;
  readonly mobile?: { readonly code?: string | undefined; readonly number?: string | undefined } | undefined;
}

export interface ExamRequest {
  /** Feishu's exam id: the same id always means the same exam, so createExam must be idempotent on it. */
  readonly examId: string;
  readonly paperId?: string | undefined;
  readonly accountId?: string | undefined;
  readonly account?: BoundAccount | undefined;
  readonly candidate: Candidate;
  /**
   * True when an earlier attempt may have reached the platform (its answer was lost, or the gateway stopped
   * before recording it): a provider whose platform does not dedupe by exam id looks the exam up first.
   */
  readonly retry?: boolean | undefined;
}

/**
 * Bounds on everything a provider hands the gateway. A provider's answer comes from outside (a vendor's API,
 * a webhook body), and the gateway stores it, puts it on a card and sends it to Feishu: an unbounded value
 * (a 500 KB score) breaks the card, and a `javascript:` URL would be a link on it. Feishu's own limits where
 * it states one (paper ids and names: 255), sane ones elsewhere.
 */
export const PROVIDER_LIMITS = {
  score: 64,
  name: 255,
  url: 2048,
  id: 255,
  username: 255,
  password: 255,
  detailResult: 255,
  reports: 20,
  details: 200,
  resultsPerWebhook: 1000,
} as const;

/** No control character (Unicode Cc: a tab, a newline, a NUL, DEL, the C1 controls). */
const NO_CONTROL_CHARACTERS = /^\P{Cc}*$/u;

const boundedText = (max: number) =>
  z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(max, { error: `must be at most ${max} characters` });

function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
}

/** An absolute http(s) URL: a link on a card and in Feishu Hire, so no `javascript:`, `data:` or `file:`. */
const httpUrl = z
  .string()
  .max(PROVIDER_LIMITS.url, { error: `must be at most ${PROVIDER_LIMITS.url} characters` })
  .refine(isHttpUrl, { error: 'must be an absolute http(s) URL' });

/**
 * An instant in whole epoch milliseconds, as Feishu's times are (update_result's result_time: 毫秒时间戳,
 * "1658676234053"; it takes them as a string of digits). Held to 13 digits (September 2001 to the year 2286): a platform's epoch seconds
 * ("1700000000") were taken as milliseconds and sent to Hire as a date in January 1970.
 */
const epochMs = z
  .number()
  .int({ error: 'must be whole epoch milliseconds' })
  .min(1_000_000_000_000, { error: 'must be epoch milliseconds (13 digits); is it in seconds?' })
  .max(9_999_999_999_999, { error: 'must be epoch milliseconds (13 digits)' });

export const arrangementSchema = z
  .object({
    examUrl: httpUrl,
    username: boundedText(PROVIDER_LIMITS.username).optional(),
    password: boundedText(PROVIDER_LIMITS.password).optional(),
    /** The platform's own id for the exam. */
    platformExamId: boundedText(PROVIDER_LIMITS.id).optional(),
    startTime: epochMs.optional(),
    endTime: epochMs.optional(),
  })
  .readonly();

export type Arrangement = z.output<typeof arrangementSchema>;

export const paperSchema = z
  .object({
    /**
     * At most 255 characters, as Feishu's eco_exam_paper requires; so is the name. Feishu sends the id back as
     * the paper_id of the exams scheduled on it, and event-core takes any such id but one with a control
     * character (its PAPER_ID_PATTERN): such an id is refused here, where the provider hears of it, instead of
     * each of its exams being refused at the door.
     */
    id: boundedText(PROVIDER_LIMITS.id).regex(NO_CONTROL_CHARACTERS, {
      error: 'must not hold a control character',
    }),
    name: boundedText(PROVIDER_LIMITS.name),
    durationMinutes: z.number().nonnegative().optional(),
    questionCount: z.number().nonnegative().optional(),
    startTime: epochMs.optional(),
    endTime: epochMs.optional(),
  })
  // Feishu's eco_exam_paper: when both times are given, the start must be before the end; otherwise it
  // refuses the call, and with it every other paper of the account (the list is a full replace).
  .refine((p) => p.startTime === undefined || p.endTime === undefined || p.startTime < p.endTime, {
    error: 'must be after startTime',
    path: ['endTime'],
  })
  .readonly();

export type Paper = z.output<typeof paperSchema>;

/**
 * What listPapers answers: papers with unique ids. The list is published to Feishu as a full replace of the
 * account's papers, where one id twice would name two papers as one (which of them Feishu keeps is not
 * documented), and the gateway deletes by id the papers that vanished since.
 */
export const paperListSchema = paperSchema.array().superRefine((papers, ctx) => {
  const seen = new Set<string>();
  for (const [index, paper] of papers.entries()) {
    if (seen.has(paper.id))
      ctx.addIssue({ code: 'custom', message: `paper id ${paper.id} is given twice`, path: [index, 'id'] });
    seen.add(paper.id);
  }
});

export interface ExamRef {
  readonly examId: string;
  readonly platformExamId?: string | undefined;
}

export const examResultSchema = z
  .object({
    /** The score as Feishu takes it: a string, e.g. "60.5". */
    score: boundedText(PROVIDER_LIMITS.score),
    /** When the result was produced: epoch milliseconds (Feishu's `result_time`). */
    resultTime: epochMs.optional(),
    reports: z
      .array(
        z
          .object({
            name: boundedText(PROVIDER_LIMITS.name),
            url: httpUrl,
            /** When the candidate finished answering: epoch milliseconds (Feishu's `answer_time`, 作答完成时间). */
            answerTime: epochMs.optional(),
          })
          .readonly(),
      )
      .max(PROVIDER_LIMITS.reports, { error: `must hold at most ${PROVIDER_LIMITS.reports} reports` })
      .readonly()
      .optional(),
    details: z
      .array(
        z
          .object({
            id: boundedText(PROVIDER_LIMITS.id).optional(),
            name: boundedText(PROVIDER_LIMITS.name),
            result: boundedText(PROVIDER_LIMITS.detailResult),
          })
          .readonly(),
      )
      .max(PROVIDER_LIMITS.details, { error: `must hold at most ${PROVIDER_LIMITS.details} details` })
      .readonly()
      .optional(),
  })
  .readonly();

export type ExamResult = z.output<typeof examResultSchema>;

/** What a result webhook carries: results for exams, by Feishu's exam id. */
export const webhookResultsSchema = z
  .array(z.object({ examId: boundedText(PROVIDER_LIMITS.id), result: examResultSchema }))
  .max(PROVIDER_LIMITS.resultsPerWebhook, {
    error: `must hold at most ${PROVIDER_LIMITS.resultsPerWebhook} results`,
  });

export type WebhookResults = z.output<typeof webhookResultsSchema>;

export interface WebhookRequest {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly rawBody: Uint8Array;
}

/**
 * A field the customer fills in when binding an account with the vendor (账号自定义字段): how the vendor's
 * platform recognises the customer. Registered with Feishu Hire by the gateway.
 */
export interface AccountField {
  readonly key: string;
  readonly name: { readonly zh_cn?: string; readonly en_us?: string };
  readonly required: boolean;
  readonly description?: { readonly zh_cn?: string; readonly en_us?: string };
}

export interface ExamProvider {
  readonly id: string;
  /**
   * The timeout of one call to the platform. The gateway keeps a job's lease longer than this (so a slow call
   * can never be run twice); absent: no call can hang (an in-process provider).
   */
  readonly callTimeoutMs?: number | undefined;
  /**
   * True for a stand-in that arranges no real exam (the sandbox): fine for a demo or a test, but a candidate
   * sent to it would get a fake exam. The gateway warns at start, and refuses it in production unless told.
   */
  readonly simulated?: boolean | undefined;
  /** The account custom fields this provider reads from `BoundAccount.fields`. */
  readonly accountFields?: readonly AccountField[];
  createExam(request: ExamRequest): Promise<Arrangement>;
  listPapers?(account: BoundAccount | undefined): Promise<Paper[]>;
  cancelExam?(ref: ExamRef): Promise<void>;
  /** Polling: the result when there is one, undefined while the candidate has not finished. */
  fetchResult?(ref: ExamRef): Promise<ExamResult | undefined>;
  /** Push: verifies the platform's webhook its own way and reads the results it carries. */
  parseResultWebhook?(request: WebhookRequest): Promise<WebhookResults>;
}

const PROVIDER_ERROR = Symbol.for('@feishu-exam/exam-providers.ProviderError');

/** A provider failure. `message` is shown to vendor staff on the card, so it must make sense to them. */
export class ProviderError extends Error {
  readonly [PROVIDER_ERROR] = true;
  /** `invalid_answer`: the platform answered, but with values outside the contract's bounds. */
  readonly code: 'invalid_answer' | undefined;
  /** How long the platform asked us to wait (its Retry-After): the outbox backs off at least this long. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    readonly retryable: boolean,
    readonly providerId: string,
    options?: { cause?: unknown; code?: 'invalid_answer'; retryAfterMs?: number | undefined },
  ) {
    super(message, options);
    this.name = 'ProviderError';
    this.code = options?.code;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Statuses worth another try: 408 (RFC 9110 §15.5.9), 425 (RFC 8470 §5.2), 429 (RFC 6585 §4) and 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** No exam platform answers with more; a bigger body (a wrong path, a file) is not read into memory. */
export const MAX_ANSWER_BYTES = 10 * 1024 * 1024;

/** What readAnswerText throws past MAX_ANSWER_BYTES: the rest of the body was not read. */
export class AnswerTooLargeError extends Error {
  readonly code = 'answer_too_large';
  constructor(readonly maxBytes: number) {
    super(`the answer is larger than ${maxBytes / (1024 * 1024)} MB`);
    this.name = 'AnswerTooLargeError';
  }
}

/**
 * A platform's answer as text, as `response.text()` decodes it (UTF-8, a leading BOM dropped), read up to
 * `maxBytes` and no further: `text()` would hold a runaway answer in memory whole before anyone looked at it.
 */
export async function readAnswerText(response: Response, maxBytes = MAX_ANSWER_BYTES): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new AnswerTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * A Retry-After header (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as milliseconds from `now`;
 * undefined when absent or unreadable. Capped at a day: a platform's typo must not park a job for a year.
 */
export function retryAfterMs(header: string | null | undefined, now: number): number | undefined {
  const text = header?.trim();
  if (!text) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, ms), 86_400_000);
}

/**
 * True for a ProviderError from any copy of this package. A provider package may resolve its own copy, and
 * then `instanceof` would fail; the brand (a registry symbol) does not.
 */
export function isProviderError(value: unknown): value is ProviderError {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PROVIDER_ERROR] === true
  );
}

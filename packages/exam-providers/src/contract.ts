/**
 * The contract between the gateway and an exam platform. Providers never see Feishu types or Koa: the
 * gateway turns an exam event into an ExamRequest, and an Arrangement or an ExamResult back into Feishu's
 * login_info and update_result.
 */

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
}

export interface Arrangement {
  readonly examUrl: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** The platform's own id for the exam. */
  readonly platformExamId?: string | undefined;
  /** Epoch milliseconds. */
  readonly startTime?: number | undefined;
  readonly endTime?: number | undefined;
}

export interface Paper {
  /** At most 255 characters, as Feishu's eco_exam_paper requires; so is the name. */
  readonly id: string;
  readonly name: string;
  readonly durationMinutes?: number | undefined;
  readonly questionCount?: number | undefined;
  readonly startTime?: number | undefined;
  readonly endTime?: number | undefined;
}

export interface ExamRef {
  readonly examId: string;
  readonly platformExamId?: string | undefined;
}

export interface ExamResult {
  /** The score as Feishu takes it: a string, e.g. "60.5". */
  readonly score: string;
  /** When the result was produced: epoch milliseconds (Feishu's `result_time`). */
  readonly resultTime?: number | undefined;
  readonly reports?: ReadonlyArray<{
    readonly name: string;
    readonly url: string;
    /** When the candidate finished answering: epoch milliseconds (Feishu's `answer_time`, 作答完成时间). */
    readonly answerTime?: number | undefined;
  }>;
  readonly details?: ReadonlyArray<{
    readonly id?: string | undefined;
    readonly name: string;
    readonly result: string;
  }>;
}

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
  /** The account custom fields this provider reads from `BoundAccount.fields`. */
  readonly accountFields?: readonly AccountField[];
  createExam(request: ExamRequest): Promise<Arrangement>;
  listPapers?(account: BoundAccount | undefined): Promise<Paper[]>;
  cancelExam?(ref: ExamRef): Promise<void>;
  /** Polling: the result when there is one, undefined while the candidate has not finished. */
  fetchResult?(ref: ExamRef): Promise<ExamResult | undefined>;
  /** Push: verifies the platform's webhook its own way and reads the results it carries. */
  parseResultWebhook?(request: WebhookRequest): Promise<Array<{ examId: string; result: ExamResult }>>;
}

const PROVIDER_ERROR = Symbol.for('@feishu-exam/exam-providers.ProviderError');

/** A provider failure. `message` is shown to vendor staff on the card, so it must make sense to them. */
export class ProviderError extends Error {
  readonly [PROVIDER_ERROR] = true;

  constructor(
    message: string,
    readonly retryable: boolean,
    readonly providerId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
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

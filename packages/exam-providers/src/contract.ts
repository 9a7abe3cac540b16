/**
 * The contract between the gateway and an exam platform. Providers never see Feishu types or Koa: the
 * gateway translates an exam event into an ExamRequest and an Arrangement back into Feishu's login_info.
 * (The full contract, with options schemas, the registry and the conformance kit, is the providers
 * milestone; this is the part the approval workflow needs.)
 */

export interface ExamRequest {
  /** Feishu's exam id: the same id always means the same exam, so createExam must be idempotent on it. */
  readonly examId: string;
  readonly paperId?: string | undefined;
  readonly accountId?: string | undefined;
  readonly candidate: {
    readonly name?: string | undefined;
    readonly email?: string | undefined;
    readonly mobile?:
      | { readonly code?: string | undefined; readonly number?: string | undefined }
      | undefined;
  };
}

export interface Arrangement {
  readonly examUrl: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** The platform's own id for the exam. */
  readonly platformExamId?: string | undefined;
  readonly startTime?: number | undefined;
  readonly endTime?: number | undefined;
}

export interface ExamProvider {
  readonly id: string;
  createExam(request: ExamRequest): Promise<Arrangement>;
}

/** A provider failure. `message` is shown to vendor staff on the card, so it must make sense to them. */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly providerId: string,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

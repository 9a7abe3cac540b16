import { createHash } from 'node:crypto';
import { type Arrangement, type ExamProvider, type ExamRequest, ProviderError } from './contract.js';

export interface SandboxOptions {
  /** Milliseconds each createExam waits, to imitate a real platform. Default 0. */
  readonly latencyMs?: number;
  /** Probability (0..1) that a call fails with a retryable error. Default 0. */
  readonly failureRate?: number;
  /** Papers whose exams fail permanently, to show the failure path. */
  readonly failingPaperIds?: readonly string[];
  readonly baseUrl?: string;
  readonly random?: () => number;
}

/**
 * An offline exam platform for the demo and tests. Deterministic: the same exam id always yields the same
 * arrangement, which is what idempotency on retries requires of every real provider too.
 */
export function createSandboxProvider(options: SandboxOptions = {}): ExamProvider {
  const random = options.random ?? Math.random;
  const baseUrl = options.baseUrl ?? 'https://sandbox.exam.invalid';
  return {
    id: 'sandbox',
    async createExam(request: ExamRequest): Promise<Arrangement> {
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      if (request.paperId && options.failingPaperIds?.includes(request.paperId)) {
        throw new ProviderError(
          `paper ${request.paperId} is not available on the sandbox platform`,
          false,
          'sandbox',
        );
      }
      if (options.failureRate && random() < options.failureRate) {
        throw new ProviderError('the sandbox platform is temporarily unavailable', true, 'sandbox');
      }
      const digest = createHash('sha256').update(`sandbox:${request.examId}`).digest('hex');
      return {
        examUrl: `${baseUrl}/exams/${encodeURIComponent(request.examId)}?k=${digest.slice(0, 16)}`,
        username: request.candidate.email ?? `candidate-${digest.slice(0, 8)}`,
        password: digest.slice(16, 28),
        platformExamId: `sbx-${digest.slice(0, 12)}`,
      };
    },
  };
}

import { type ExamProvider, ProviderError, type ProviderRegistry } from '@feishu-exam/exam-providers';
import { type MethodWrap, mapProviders, wrapProvider } from './wrap.js';

/** A deadline is at least this many times the provider's own call timeout (one method may make several calls). */
export const DEADLINE_PER_CALL_TIMEOUT = 4;

/**
 * The registry with every provider method given up at a deadline: a retryable ProviderError, so the job is
 * retried with backoff and its worker slot freed. A provider is trusted to time out its own calls
 * (`callTimeoutMs`), but one that does not (a fetch without a signal, a stalled socket, an SDK with no
 * timeout) would otherwise hold its job, renewing its lease, for as long as the process lives; a few such
 * exams and the outbox runs nothing else. The abandoned call is not cancelled: whatever it did on the
 * platform, the retry finds again (createExam is idempotent on the exam id).
 */
export function withDeadlines(registry: ProviderRegistry, deadlineMs: number): ProviderRegistry {
  return mapProviders(registry, (provider) => withDeadline(provider, deadlineMs));
}

function withDeadline(provider: ExamProvider, floorMs: number): ExamProvider {
  const deadlineMs = Math.max(floorMs, DEADLINE_PER_CALL_TIMEOUT * (provider.callTimeoutMs ?? 0));
  const bounded: MethodWrap =
    (method, call) =>
    (...args) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new ProviderError(
                `the exam platform's ${method} did not finish within ${deadlineMs} ms; will retry`,
                true,
                provider.id,
              ),
            ),
          deadlineMs,
        );
        timer.unref();
      });
      return Promise.race([call(...args), late]).finally(() => clearTimeout(timer));
    };
  return wrapProvider(
    provider,
    ['createExam', 'listPapers', 'cancelExam', 'fetchResult', 'parseResultWebhook'],
    bounded,
  );
}

// outbox: what a failed job's error means for the job. Two answers only: try again later (transient) or
// never (permanent). Feishu retries its own deliveries for 6 hours; an outage of the Open Platform or of an
// exam platform must not end a job that would succeed once the outage is over.

/**
 * Transient: the call may succeed later: no answer (network, timeout), 5xx, rate limits, an expired or
 * rejected token (callOpenApi's OpenApiError with failure `unavailable`, `rate_limited`, `token_invalid`), a
 * ProviderError with `retryable: true`, and every error that does not say otherwise: an error we did not
 * foresee is retried rather than dropped, since a job that is retried once too often costs a call and a
 * job dropped too early costs an exam.
 *
 * Permanent: the far side refused the request itself and would refuse it again: an OpenApiError with
 * failure `rejected` (a 4xx or business code that is neither a rate limit nor a token error), a
 * ProviderError with `retryable: false`, or any error carrying `retryable: false` (a job about a missing
 * exam, a handler that does not exist).
 */
export type FailureKind = 'transient' | 'permanent';

export interface Failure {
  readonly kind: FailureKind;
  readonly message: string;
  /** The far side said when to come back (a rate limit's reset); the backoff waits at least this long. */
  readonly retryAfterMs: number | undefined;
}

export function classifyFailure(err: unknown): Failure {
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    message?: unknown;
    retryable?: unknown;
    retryAfterMs?: unknown;
  };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const retryAfterMs =
    typeof e.retryAfterMs === 'number' && Number.isFinite(e.retryAfterMs) ? e.retryAfterMs : undefined;
  return { kind: e.retryable === false ? 'permanent' : 'transient', message, retryAfterMs };
}

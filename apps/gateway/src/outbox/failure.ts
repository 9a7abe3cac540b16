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
  readonly kind: FailureKind | 'deferred';
  readonly message: string;
  /** The far side said when to come back (a rate limit's reset); the backoff waits at least this long. */
  readonly retryAfterMs: number | undefined;
  /** `deferred` (a `Deferral`): when the job is to run again (ms since the epoch). */
  readonly deferUntil?: number;
}

/**
 * Not a failure: the job chose not to run yet and names when it will (a card waiting for its slot in a paced
 * chat, feishu/chat-pace.ts). Nothing was attempted, so no attempt is spent and no backoff grows.
 */
export class Deferral extends Error {
  constructor(
    readonly deferUntil: number,
    why: string,
  ) {
    super(why);
    this.name = 'Deferral';
  }
}

export function classifyFailure(err: unknown): Failure {
  if (err instanceof Deferral)
    return { kind: 'deferred', message: err.message, retryAfterMs: undefined, deferUntil: err.deferUntil };
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

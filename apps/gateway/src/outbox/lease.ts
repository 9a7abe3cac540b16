// outbox: how long a claimed job stays ours. A job whose lease runs out is claimed again by any worker (that
// is how the jobs of a crashed worker resume), so a live worker must never let it run out: it renews the
// lease while the job runs (a heartbeat every third of the lease), and the lease outlasts any single call
// the job makes, so that even a worker whose renewals stall (a database kept busy by another process) is
// still inside its lease when the slowest call gives up.

/** A lease is at least this many times the longest call timeout. */
export const LEASE_PER_CALL_TIMEOUT = 2;

export interface LeasePlan {
  readonly leaseMs: number;
  /** How often a running job's lease is renewed. */
  readonly heartbeatMs: number;
  /** The longest timeout of any outbound call a job makes. */
  readonly longestCallMs: number;
  /** True when the configured lease was too short and was raised. */
  readonly raised: boolean;
}

/**
 * The lease to run with: the configured one, raised to LEASE_PER_CALL_TIMEOUT × the longest call timeout
 * when it is shorter (OUTBOX_LEASE_MS is a floor, the call timeouts decide the rest).
 */
export function planLease(configuredMs: number, callTimeoutsMs: readonly number[]): LeasePlan {
  const longestCallMs = Math.max(0, ...callTimeoutsMs);
  const leaseMs = Math.max(configuredMs, LEASE_PER_CALL_TIMEOUT * longestCallMs);
  return { leaseMs, heartbeatMs: heartbeatFor(leaseMs), longestCallMs, raised: leaseMs > configuredMs };
}

/** A third of the lease: two renewals can be lost (or late) before another worker may take the job. */
export function heartbeatFor(leaseMs: number): number {
  return Math.max(1, Math.floor(leaseMs / 3));
}

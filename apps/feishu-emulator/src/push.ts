import { type SealSecrets, seal } from '@feishu-exam/event-core';

export interface PushAttempt {
  readonly eventId: string;
  readonly attempt: number;
  readonly status: number | 'timeout' | 'error';
  readonly ms: number;
  readonly at: number;
}

export interface PushOptions {
  /** Delays before each re-push. Feishu's: 15 s, 5 min, 1 h, 6 h. Compressible for tests. */
  readonly retrySchedule: readonly number[];
  readonly timeoutMs: number;
  readonly onAttempt?: (attempt: PushAttempt) => void;
}

export const FEISHU_RETRY_SCHEDULE = [15_000, 300_000, 3_600_000, 21_600_000] as const;

/**
 * Pushes an event as Feishu does: sealed once, then re-pushed (the same bytes and signature headers: Feishu
 * does not re-sign) after each delay of the schedule until a push is answered with HTTP 200 in time.
 */
export async function pushEvent(
  url: string,
  envelope: { header?: { event_id?: string }; uuid?: string },
  secrets: SealSecrets,
  options: PushOptions,
): Promise<PushAttempt[]> {
  const { headers, rawBody } = seal(envelope, secrets);
  const eventId = envelope.header?.event_id ?? envelope.uuid ?? '';
  const attempts: PushAttempt[] = [];
  for (let attempt = 0; attempt <= options.retrySchedule.length; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, options.retrySchedule[attempt - 1]));
    const started = Date.now();
    let status: PushAttempt['status'];
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body: rawBody,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      await response.arrayBuffer();
      status = response.status;
    } catch (err) {
      status = (err as Error).name === 'TimeoutError' ? 'timeout' : 'error';
    }
    const record = { eventId, attempt: attempt + 1, status, ms: Date.now() - started, at: started };
    attempts.push(record);
    options.onAttempt?.(record);
    if (status === 200) break;
  }
  return attempts;
}

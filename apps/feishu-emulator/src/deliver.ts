import { type SealSecrets, seal } from '@feishu-exam/event-core';

export interface Delivery {
  readonly status: number;
  readonly body: unknown;
  readonly ms: number;
}

/** Feishu waits this long for an answer; anything slower counts as a failed delivery. */
export const DELIVERY_TIMEOUT_MS = 3000;

/** Sends one push as Feishu does: sealed (encrypted and signed when the app has an encrypt key). */
export async function deliver(url: string, payload: object, secrets: SealSecrets): Promise<Delivery> {
  const { headers, rawBody } = seal(payload, secrets);
  const started = performance.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...headers, 'user-agent': 'feishu-exam-emulator' },
    body: rawBody,
    signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body, ms: Math.round(performance.now() - started) };
}

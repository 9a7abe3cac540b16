import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { computeSignature, encryptPayload } from './crypto.js';

/**
 * The Feishu side of the protocol: builds exactly what Feishu sends, for the emulator and for tests.
 */

export interface SealSecrets {
  readonly encryptKey?: string | undefined;
  /** Epoch seconds for X-Lark-Request-Timestamp. Default: now. */
  readonly timestamp?: number | undefined;
  readonly nonce?: string | undefined;
  /** A fixed IV, for reproducible output. Default: 16 random bytes, as Feishu does. */
  readonly iv?: Buffer | undefined;
}

export interface SealedRequest {
  readonly headers: Record<string, string>;
  readonly rawBody: Buffer;
}

/**
 * With an encrypt key: the body is `{"encrypt":"…"}` and the request is signed, except a url_verification
 * challenge, which Feishu sends without signature headers. Without one: the plain JSON, unsigned.
 */
export function seal(payload: object, secrets: SealSecrets = {}): SealedRequest {
  const plaintext = JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (!secrets.encryptKey) return { headers, rawBody: Buffer.from(plaintext, 'utf8') };

  const rawBody = Buffer.from(
    JSON.stringify({ encrypt: encryptPayload(plaintext, secrets.encryptKey, secrets.iv) }),
  );
  if ((payload as { type?: unknown }).type === 'url_verification') return { headers, rawBody };
  return { headers: { ...headers, ...signatureHeaders(rawBody, secrets.encryptKey, secrets) }, rawBody };
}

/** Signs bytes as they are: for tests that send a body with other whitespace, or a tampered one. */
export function signatureHeaders(
  rawBody: Buffer,
  encryptKey: string,
  options: { timestamp?: number | undefined; nonce?: string | undefined } = {},
): Record<string, string> {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = options.nonce ?? randomBytes(8).toString('hex');
  return {
    'x-lark-request-timestamp': timestamp,
    'x-lark-request-nonce': nonce,
    'x-lark-signature': computeSignature(timestamp, nonce, encryptKey, rawBody).toString('hex'),
  };
}

export interface EnvelopeFields {
  readonly eventId?: string;
  readonly token?: string;
  readonly appId?: string;
  readonly tenantKey?: string;
  /** Epoch milliseconds. Default: now. */
  readonly createdAt?: number;
}

/** A schema 2.0 push: `{schema, header, event}`. */
export function envelopeV2(eventType: string, event: object, fields: EnvelopeFields = {}) {
  return {
    schema: '2.0',
    header: {
      event_id: fields.eventId ?? createHash('md5').update(randomUUID()).digest('hex'),
      event_type: eventType,
      // Milliseconds; card.action.trigger's in microseconds, as Feishu sends it (卡片回传交互: 微秒级时间戳).
      create_time: String(
        (fields.createdAt ?? Date.now()) * (eventType === 'card.action.trigger' ? 1000 : 1),
      ),
      token: fields.token ?? '',
      app_id: fields.appId ?? '',
      tenant_key: fields.tenantKey ?? '',
    },
    event,
  };
}

/** A schema 1.0 push: `{ts, uuid, token, type: "event_callback", event: {type, …}}`. */
export function envelopeV1(eventType: string, event: object, fields: EnvelopeFields = {}) {
  return {
    ts: ((fields.createdAt ?? Date.now()) / 1000).toFixed(3),
    uuid: fields.eventId ?? randomUUID().replaceAll('-', ''),
    token: fields.token ?? '',
    type: 'event_callback',
    event: {
      ...(fields.appId === undefined ? {} : { app_id: fields.appId }),
      ...(fields.tenantKey === undefined ? {} : { tenant_key: fields.tenantKey }),
      ...event,
      type: eventType,
    },
  };
}

/** The challenge Feishu sends when a request URL is saved in the developer console. */
export function urlVerificationBody(challenge: string, token: string) {
  return { challenge, token, type: 'url_verification' };
}

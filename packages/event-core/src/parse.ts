import { hash } from 'node:crypto';
import type { z } from 'zod';
import { type EventPayloads, eventCatalog, isKnownEventType, type KnownEventType } from './catalog.js';
import {
  canonicalBase64,
  computeCardV1SignatureHex,
  computeSignatureHex,
  type DecryptResult,
  decryptBytes,
  secretsEqual,
  signatureMatches,
} from './crypto.js';
import { envelopeV1, envelopeV2, millisFromCreateTime, millisFromTs, urlVerification } from './envelope.js';
import { type ParseError, parseError } from './errors.js';
import type { EventMeta, FeishuEvent } from './event.js';
import { precompiled } from './precompiled.js';

/** What arrived on the wire. Header names are matched case-insensitively. */
export interface WireRequest {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly rawBody: Uint8Array;
}

export interface ParseSecrets {
  /** The app's Encrypt Key. When set, bodies may be encrypted and every event must be signed. */
  readonly encryptKey?: string | undefined;
  /** The app's Verification Token. When set, every event and challenge must carry it. */
  readonly verificationToken?: string | undefined;
  /** How old a signed X-Lark-Request-Timestamp may be. Default: DEFAULT_TOLERANCE_SECONDS. */
  readonly toleranceSeconds?: number | undefined;
  /** The clock, in epoch milliseconds. Default: Date.now. */
  readonly now?: (() => number) | undefined;
  /** Default: DEFAULT_MAX_BODY_BYTES. */
  readonly maxBodyBytes?: number | undefined;
  /**
   * The transport already proved the sender is Feishu: the long connection, opened with the app secret, whose
   * pushes carry no signature (an encrypt key then opens `encrypt` bodies without asking for one). A known event
   * with a broken payload is then reported as `verifiedEvent`.
   */
  readonly authenticatedChannel?: boolean | undefined;
}

export type ParseResult =
  | { readonly ok: true; readonly kind: 'challenge'; readonly challenge: string }
  | { readonly ok: true; readonly kind: 'event'; readonly event: FeishuEvent }
  | { readonly ok: false; readonly error: ParseError };

/**
 * Feishu does not re-sign a retried push with a fresh timestamp (see README "Timestamp tolerance"), and it
 * retries 15 s, 5 min, 1 h and 6 h after a failed delivery: the last retry carries a timestamp about
 * 7 h 05 min old. 8 h accepts every retry, with room for clock skew and the 3 s delivery timeouts, and
 * still refuses a captured request replayed the next day. Duplicates inside the window are the dedupe's
 * job (event id), not the signature's.
 */
export const DEFAULT_TOLERANCE_SECONDS = 8 * 60 * 60;
/** A timestamp from the future is clock skew at best; never more than this is forgiven. */
export const MAX_FUTURE_SKEW_SECONDS = 5 * 60;
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

type Fail = { readonly ok: false; readonly error: ParseError };

const checkUrlVerification = precompiled(urlVerification);
const checkEnvelopeV2 = precompiled(envelopeV2);
const checkEnvelopeV1 = precompiled(envelopeV1);
const checkPayload = Object.fromEntries(
  Object.entries(eventCatalog).map(([type, schema]) => [type, precompiled(schema)]),
) as { [K in KnownEventType]: (value: unknown) => z.ZodSafeParseResult<EventPayloads[K]> };
const fail = (...args: Parameters<typeof parseError>): Fail => ({ ok: false, error: parseError(...args) });

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Verifies, decrypts, parses and validates one push. Never throws: every outcome is a value.
 *
 * Order matters. The signature is checked over the raw bytes before anything is parsed. With an encrypt
 * key configured, an unsigned request is accepted only as a url_verification challenge (Feishu sends
 * challenges without signature headers), and on that path every decryption failure looks the same, so
 * an unsigned request can never serve as a padding oracle.
 */
export function parse(request: WireRequest, secrets: ParseSecrets = {}): ParseResult {
  try {
    return parseOrFail(request, secrets);
  } catch {
    // Unreachable by design (the property tests hunt for it); kept so that a bug is a 500, not a crash.
    return fail('internal_error');
  }
}

function parseOrFail(request: WireRequest, secrets: ParseSecrets): ParseResult {
  const maxBodyBytes = secrets.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (request.rawBody.byteLength > maxBodyBytes) {
    return fail('body_too_large', `${request.rawBody.byteLength} bytes, the limit is ${maxBodyBytes}`);
  }
  const rawBody = Buffer.isBuffer(request.rawBody)
    ? request.rawBody
    : Buffer.from(request.rawBody.buffer, request.rawBody.byteOffset, request.rawBody.byteLength);
  const { encryptKey, verificationToken } = secrets;

  const signature = header(request.headers, 'x-lark-signature');
  let signed = false;
  let cardV1Signed = false;
  if (signature !== undefined && (encryptKey || verificationToken)) {
    const verdict = verifySignature(request.headers, signature, rawBody, secrets);
    if (typeof verdict === 'object') return verdict;
    signed = verdict === 'event';
    cardV1Signed = verdict === 'card_v1';
  }

  let envelope: Record<string, unknown>;
  const sealedBytes = sealedBodyCiphertext(rawBody);
  if (sealedBytes) {
    const opened = openSealed(sealedBytes, encryptKey, signed);
    if (!opened.ok) return opened;
    envelope = opened.value;
  } else {
    const body = parseJsonObject(rawBody);
    if (!body.ok) return body;
    envelope = body.value;
    if (Object.hasOwn(envelope, 'encrypt')) {
      const encrypt = envelope.encrypt;
      if (typeof encrypt !== 'string') return fail('schema_invalid', 'encrypt must be a string', 'encrypt');
      const opened = openSealed(canonicalBase64(encrypt) ?? 'not_base64', encryptKey, signed);
      if (!opened.ok) return opened;
      envelope = opened.value;
    }
  }

  if (envelope.type === 'url_verification') return challenge(envelope, verificationToken);
  if (isCardV1(envelope)) {
    if (!cardV1Signed && !signed && secrets.authenticatedChannel !== true) {
      return fail(
        'bad_signature',
        verificationToken
          ? 'an old-style card callback must carry X-Lark-Signature, SHA-1 with the verification token'
          : 'an old-style card callback is signed with the verification token; set FEISHU_VERIFICATION_TOKEN',
      );
    }
    return cardV1(envelope, request.headers, rawBody);
  }
  // The SHA-1 signature proves only the verification token, which an old-style card body carries nowhere.
  if (cardV1Signed) return fail('bad_signature', 'signed as an old-style card callback, but it is not one');
  if (encryptKey && !signed && secrets.authenticatedChannel !== true) {
    return fail('bad_signature', 'X-Lark-Signature is missing; every event must be signed');
  }
  return event(envelope, verificationToken, signed || secrets.authenticatedChannel === true);
}

const SEALED_PREFIX = Buffer.from('{"encrypt":"', 'latin1');
const SEALED_SUFFIX = Buffer.from('"}', 'latin1');

/**
 * The ciphertext of a body that is exactly `{"encrypt":"<canonical base64>"}`, as Feishu sends it; undefined
 * for any other body, which then takes the general path (JSON.parse). Canonical base64 has no quote,
 * backslash or non-ASCII byte, so JSON.parse of such a body is that one-key object: the result is the same,
 * without decoding and parsing the body as JSON and then the base64 a second time.
 */
function sealedBodyCiphertext(rawBody: Buffer): Buffer | undefined {
  const end = rawBody.length - SEALED_SUFFIX.length;
  if (end < SEALED_PREFIX.length) return undefined;
  if (rawBody.compare(SEALED_PREFIX, 0, SEALED_PREFIX.length, 0, SEALED_PREFIX.length) !== 0)
    return undefined;
  if (rawBody.compare(SEALED_SUFFIX, 0, SEALED_SUFFIX.length, end) !== 0) return undefined;
  return canonicalBase64(rawBody.toString('latin1', SEALED_PREFIX.length, end));
}

/** Decrypts and parses an encrypted payload: the decoded bytes, or 'not_base64' when they were not base64. */
function openSealed(
  ciphertext: Buffer | 'not_base64',
  encryptKey: string | undefined,
  signed: boolean,
): { ok: true; value: Record<string, unknown> } | Fail {
  if (!encryptKey) return fail('encrypt_key_not_configured');
  const decrypted: DecryptResult =
    ciphertext === 'not_base64' ? { ok: false, reason: ciphertext } : decryptBytes(ciphertext, encryptKey);
  // Unsigned, every decryption failure looks the same: no padding oracle.
  if (!decrypted.ok) return fail('decrypt_failed', signed ? decrypted.reason : undefined);
  const inner = parseJsonText(decrypted.plaintext);
  if (inner === undefined) return fail('decrypt_failed', signed ? 'the plaintext is not JSON' : undefined);
  if (!isPlainObject(inner)) return fail('body_not_object', 'the decrypted payload is not a JSON object');
  return { ok: true, value: inner };
}

/**
 * Which key signed the request: the encrypt key (SHA-256, events and card.action.trigger) or, for an
 * old-style card callback, the verification token (SHA-1). Without an encrypt key a signature that is not
 * an old card's is ignored, as before: the verification token inside the envelope authenticates the push.
 */
function verifySignature(
  headers: WireRequest['headers'],
  signature: string,
  rawBody: Buffer,
  secrets: ParseSecrets,
): 'event' | 'card_v1' | 'unchecked' | Fail {
  const { encryptKey, verificationToken } = secrets;
  const timestamp = header(headers, 'x-lark-request-timestamp');
  const nonce = header(headers, 'x-lark-request-nonce');
  if (timestamp === undefined || nonce === undefined) {
    if (!encryptKey) return 'unchecked';
    return fail('bad_signature', 'X-Lark-Request-Timestamp or X-Lark-Request-Nonce is missing');
  }
  let verdict: 'event' | 'card_v1' | undefined;
  if (encryptKey && signatureMatches(computeSignatureHex(timestamp, nonce, encryptKey, rawBody), signature)) {
    verdict = 'event';
  } else if (
    verificationToken &&
    signatureMatches(computeCardV1SignatureHex(timestamp, nonce, verificationToken, rawBody), signature)
  ) {
    verdict = 'card_v1';
  }
  if (!verdict) {
    if (!encryptKey) return 'unchecked';
    // Feishu signs an old-style card callback (消息卡片请求网址) with the verification token, not the key: without
    // the token configured such a click fails here, and the hint would point at the key alone. (The SDKs take
    // it unsigned then; an unsigned click would let anyone decide exams, so it stays refused.)
    return verificationToken
      ? fail('bad_signature')
      : fail(
          'bad_signature',
          'not signed with the encrypt key; an old-style card callback (消息卡片请求网址) is signed with the verification token, which is not configured: set FEISHU_VERIFICATION_TOKEN',
        );
  }
  // Freshness only after the signature: an unsigned timestamp says nothing.
  if (!/^\d{1,12}$/.test(timestamp)) return fail('stale_timestamp', 'the timestamp is not epoch seconds');
  const nowSeconds = (secrets.now ?? Date.now)() / 1000;
  const tolerance = secrets.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const age = nowSeconds - Number(timestamp);
  if (age > tolerance || -age > Math.min(tolerance, MAX_FUTURE_SKEW_SECONDS)) {
    return fail('stale_timestamp', `the request was signed ${Math.round(age)} s ago`);
  }
  return verdict;
}

/**
 * The old-style card callback (消息卡片回传交互（旧）, configured as the app's "消息卡片请求网址"): the click's
 * fields at the top level, no envelope, no event id (the node SDK's InteractiveCardActionEvent: open_id,
 * user_id, tenant_key, open_message_id, token, action). Never encrypted.
 */
function isCardV1(envelope: Record<string, unknown>): boolean {
  return (
    Object.hasOwn(envelope, 'action') &&
    !Object.hasOwn(envelope, 'schema') &&
    !Object.hasOwn(envelope, 'uuid') &&
    !Object.hasOwn(envelope, 'event')
  );
}

/**
 * An old-style card callback read as the card.action.trigger it stands for, so that one handler serves both:
 * the operator and the card's message become `operator` and `context`. It carries no id; one is derived from
 * the signed request, for logs and the rejected-events list (the `token` is a card update token: never an id).
 */
function cardV1(
  envelope: Record<string, unknown>,
  headers: WireRequest['headers'],
  rawBody: Buffer,
): ParseResult {
  const { open_id, user_id, union_id, tenant_key, open_message_id, open_chat_id, token, action } = envelope;
  const defined = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const payload = defined({
    operator: defined({ open_id, user_id, union_id, tenant_key }),
    token,
    action,
    host: 'im_message',
    context: defined({ open_message_id, open_chat_id }),
  });
  const timestamp = header(headers, 'x-lark-request-timestamp') ?? '';
  const nonce = header(headers, 'x-lark-request-nonce') ?? '';
  const id = `card_v1_${hash('sha256', Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`), rawBody]), 'hex').slice(0, 32)}`;
  const validated = checkPayload['card.action.trigger'](payload);
  if (!validated.success) {
    const failure = schemaFailure(validated.error, 'event');
    return { ok: false, error: { ...failure.error, verifiedEvent: { id, type: 'card.action.trigger' } } };
  }
  const event = {
    id,
    schema: '1.0',
    createdAt: /^\d{1,12}$/.test(timestamp) ? Number(timestamp) * 1000 : undefined,
    tenantKey: typeof tenant_key === 'string' ? tenant_key : undefined,
    appId: typeof envelope.app_id === 'string' ? envelope.app_id : undefined,
    type: 'card.action.trigger',
    payload: validated.data,
  } as FeishuEvent;
  return { ok: true, kind: 'event', event };
}

function challenge(envelope: Record<string, unknown>, verificationToken: string | undefined): ParseResult {
  const parsed = checkUrlVerification(envelope);
  if (!parsed.success) return schemaFailure(parsed.error, '');
  const { token, header: h, challenge: answer } = parsed.data;
  // Wherever it sits, every token presented must match, and at least one must be there.
  const presented = token ?? h?.token;
  const refused =
    checkToken(presented, verificationToken, 'token (or header.token)') ??
    (token !== undefined && h?.token !== undefined
      ? checkToken(h.token, verificationToken, 'header.token')
      : undefined);
  if (refused) return refused;
  return { ok: true, kind: 'challenge', challenge: answer };
}

function event(
  envelope: Record<string, unknown>,
  verificationToken: string | undefined,
  signed: boolean,
): ParseResult {
  const authenticated = signed || Boolean(verificationToken);
  let meta: EventMeta;
  let type: string;
  let payload: Record<string, unknown>;
  if (Object.hasOwn(envelope, 'schema')) {
    const parsed = checkEnvelopeV2(envelope);
    if (!parsed.success) return schemaFailure(parsed.error, '');
    const { header: h, event: e } = parsed.data;
    const refused = checkToken(h.token, verificationToken, 'header.token');
    if (refused) return refused;
    meta = {
      id: h.event_id,
      schema: '2.0',
      createdAt: millisFromCreateTime(h.create_time),
      tenantKey: h.tenant_key,
      appId: h.app_id,
    };
    type = h.event_type;
    payload = e;
  } else if (Object.hasOwn(envelope, 'uuid') || envelope.type === 'event_callback') {
    const parsed = checkEnvelopeV1(envelope);
    if (!parsed.success) return schemaFailure(parsed.error, '');
    const v1 = parsed.data;
    const refused = checkToken(v1.token, verificationToken, 'token');
    if (refused) return refused;
    meta = {
      id: v1.uuid,
      schema: '1.0',
      createdAt: millisFromTs(v1.ts),
      tenantKey: v1.event.tenant_key,
      appId: v1.event.app_id,
    };
    type = v1.event.type;
    payload = v1.event;
  } else {
    return fail(
      'schema_invalid',
      'neither a schema 2.0 envelope (header, event) nor a 1.0 one (uuid, event)',
    );
  }

  if (!isKnownEventType(type)) {
    return { ok: true, kind: 'event', event: { ...meta, type: 'unknown', originalType: type, payload } };
  }
  const validated = checkPayload[type](payload);
  if (!validated.success) {
    const failure = schemaFailure(validated.error, 'event');
    return authenticated
      ? { ok: false, error: { ...failure.error, verifiedEvent: { id: meta.id, type } } }
      : failure;
  }
  // Field by field rather than `{ ...meta, … }`: on this, the hot path, V8's object spread was a tenth of
  // parse's time and most of its garbage.
  const known = {
    id: meta.id,
    schema: meta.schema,
    createdAt: meta.createdAt,
    tenantKey: meta.tenantKey,
    appId: meta.appId,
    type,
    payload: validated.data,
  } as FeishuEvent;
  return { ok: true, kind: 'event', event: known };
}

function checkToken(
  presented: string | undefined,
  expected: string | undefined,
  path: string,
): Fail | undefined {
  if (!expected) return undefined;
  if (presented === undefined) return fail('bad_token', `${path} is missing`);
  return secretsEqual(presented, expected) ? undefined : fail('bad_token');
}

function schemaFailure(error: z.ZodError, prefix: string): Fail {
  const issue = error.issues[0];
  const segments = [...(prefix ? [prefix] : []), ...(issue?.path ?? []).map(String)];
  const path = segments.join('.');
  return fail('schema_invalid', `${path || 'body'}: ${issue?.message ?? 'invalid'}`, path);
}

function parseJsonObject(rawBody: Buffer): { ok: true; value: Record<string, unknown> } | Fail {
  let text: string;
  try {
    text = strictUtf8.decode(rawBody);
  } catch {
    return fail('malformed_json', 'the body is not UTF-8');
  }
  const value = parseJsonText(text);
  if (value === undefined) return fail('malformed_json');
  if (!isPlainObject(value)) return fail('body_not_object');
  return { ok: true, value };
}

function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function header(headers: WireRequest['headers'], name: string): string | undefined {
  let value = headers[name];
  if (value === undefined) {
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === name) {
        value = headers[key];
        break;
      }
    }
  }
  // A repeated signature header is not Feishu's: take none rather than guess which one counts.
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value as string | undefined;
}

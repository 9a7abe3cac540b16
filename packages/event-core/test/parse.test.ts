import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TOLERANCE_SECONDS,
  encryptPayload,
  envelopeV1,
  envelopeV2,
  type ParseResult,
  parse,
  seal,
  signatureHeaders,
  urlVerificationBody,
} from '../src/index.js';

const encryptKey = 'kRt9-encrypt-key';
const verificationToken = 'vT0k-verification';
const secrets = { encryptKey, verificationToken };
const fields = { token: verificationToken, appId: 'cli_app', tenantKey: 'tenant-1' };
const exam = { exam_id: 'e-1', paper_id: 'p-1', candidate_info: { name: '王二', email: 'a@b.c' } };

const errorCode = (r: ParseResult) => (r.ok ? 'ok' : r.error.code);
const eventOf = (r: ParseResult) => {
  if (!r.ok || r.kind !== 'event') throw new Error(`expected an event, got ${JSON.stringify(r)}`);
  return r.event;
};

describe('url_verification', () => {
  it('answers a plain challenge and checks its token', () => {
    const plain = seal(urlVerificationBody('c-1', verificationToken));
    expect(parse(plain, { verificationToken })).toEqual({ ok: true, kind: 'challenge', challenge: 'c-1' });
    expect(errorCode(parse(seal(urlVerificationBody('c-1', 'other')), { verificationToken }))).toBe(
      'bad_token',
    );
    expect(errorCode(parse(seal({ type: 'url_verification', challenge: 'c' }), { verificationToken }))).toBe(
      'bad_token',
    );
  });

  it('answers an encrypted challenge, which Feishu sends unsigned', () => {
    const sealed = seal(urlVerificationBody('c-2', verificationToken), { encryptKey });
    expect(sealed.headers['x-lark-signature']).toBeUndefined();
    expect(parse(sealed, secrets)).toEqual({ ok: true, kind: 'challenge', challenge: 'c-2' });
  });

  it('takes the token from a schema 2.0 header too; every token presented must match, one is required', () => {
    const inHeader = (header: object, extra: object = {}) =>
      parse(seal({ schema: '2.0', header, challenge: 'c-3', type: 'url_verification', ...extra }), {
        verificationToken,
      });
    expect(inHeader({ event_id: 'e', token: verificationToken })).toEqual({
      ok: true,
      kind: 'challenge',
      challenge: 'c-3',
    });
    expect(errorCode(inHeader({ token: 'forged' }))).toBe('bad_token');
    expect(errorCode(inHeader({ event_id: 'e' }))).toBe('bad_token');
    expect(errorCode(inHeader({ token: verificationToken }, { token: 'forged' }))).toBe('bad_token');
    expect(errorCode(inHeader({ token: 'forged' }, { token: verificationToken }))).toBe('bad_token');
    expect(errorCode(inHeader({ token: verificationToken }, { token: verificationToken }))).toBe('ok');
    expect(inHeader({ token: 7 })).toMatchObject({
      ok: false,
      error: { code: 'schema_invalid', path: 'header.token' },
    });
  });

  it('refuses a challenge whose challenge is not a string', () => {
    const r = parse(seal({ type: 'url_verification', challenge: 7, token: verificationToken }), secrets);
    expect(r).toMatchObject({ ok: false, error: { code: 'schema_invalid', path: 'challenge' } });
  });
});

describe('envelopes are normalised to one shape, without the SDK flattening', () => {
  it('schema 2.0', () => {
    const env = envelopeV2('hire.eco_exam.created_v1', exam, {
      ...fields,
      eventId: 'ev-2',
      createdAt: 1608725989000,
    });
    expect(eventOf(parse(seal(env, { encryptKey }), secrets))).toEqual({
      id: 'ev-2',
      schema: '2.0',
      type: 'hire.eco_exam.created_v1',
      createdAt: 1608725989000,
      tenantKey: 'tenant-1',
      appId: 'cli_app',
      payload: exam,
    });
  });

  it('schema 1.0: uuid is the id, ts (seconds) becomes milliseconds, event.type the type', () => {
    const env = envelopeV1(
      'app_ticket',
      { app_ticket: 't-1' },
      { ...fields, eventId: 'uuid-1', createdAt: 1502199207717 },
    );
    const event = eventOf(parse(seal(env, { encryptKey }), secrets));
    expect(event).toMatchObject({
      id: 'uuid-1',
      schema: '1.0',
      type: 'app_ticket',
      createdAt: 1502199207717,
      appId: 'cli_app',
    });
    expect(event.payload).toMatchObject({ app_ticket: 't-1', type: 'app_ticket' });
  });

  it('a card callback keeps its update token in the payload; the verification token stays out of the event', () => {
    const card = {
      operator: { open_id: 'ou_1' },
      token: 'c-card-update',
      action: { value: { examId: 'e' }, tag: 'button' },
    };
    const sealed = envelopeV2('card.action.trigger', card, { ...fields, createdAt: 1603977298123 });
    // Feishu gives a card callback's create_time in microseconds (卡片回传交互: 微秒级时间戳).
    expect(sealed.header.create_time).toBe('1603977298123000');
    const event = eventOf(parse(seal(sealed, { encryptKey }), { ...secrets, toleranceSeconds: 1e10 }));
    expect(event.type).toBe('card.action.trigger');
    expect(event.createdAt).toBe(1603977298123);
    expect(event.payload).toMatchObject({ token: 'c-card-update' });
    expect(JSON.stringify(event)).not.toContain(verificationToken);
  });

  it('keeps unknown extra fields of known events', () => {
    const env = envelopeV2('hire.eco_exam.created_v1', { ...exam, brand_new_field: { x: 1 } }, fields);
    expect(eventOf(parse(seal(env, { encryptKey }), secrets)).payload).toMatchObject({
      brand_new_field: { x: 1 },
    });
  });

  it('reads the newer talent_id and application_id', () => {
    const env = envelopeV2(
      'hire.eco_exam.created_v1',
      { ...exam, talent_id: 't-9', application_id: 'a-9' },
      fields,
    );
    const event = eventOf(parse(seal(env, { encryptKey }), secrets));
    if (event.type !== 'hire.eco_exam.created_v1') throw new Error('wrong type');
    expect([event.payload.talent_id, event.payload.application_id]).toEqual(['t-9', 'a-9']);
  });

  it('an unknown type is a valid event of type unknown', () => {
    const event = eventOf(
      parse(seal(envelopeV2('im.chat.updated_v1', { chat_id: 'oc' }, fields), { encryptKey }), secrets),
    );
    expect(event).toMatchObject({
      type: 'unknown',
      originalType: 'im.chat.updated_v1',
      payload: { chat_id: 'oc' },
    });
  });

  it('a known type with a broken payload is schema_invalid with the path of the field', () => {
    const broken = (event: object) =>
      parse(seal(envelopeV2('hire.eco_exam.created_v1', event, fields), { encryptKey }), secrets);
    expect(broken({ paper_id: 'p' })).toMatchObject({
      ok: false,
      error: { code: 'schema_invalid', path: 'event.exam_id' },
    });
    expect(broken({ exam_id: 'e', candidate_info: { mobile: { code: 86 } } })).toMatchObject({
      ok: false,
      error: { code: 'schema_invalid', status: 400, path: 'event.candidate_info.mobile.code' },
    });
    const account = parse(
      seal(envelopeV2('hire.eco_account.created_v1', { account_id: 'a', usage_list: ['x'] }, fields), {
        encryptKey,
      }),
      secrets,
    );
    expect(account).toMatchObject({ ok: false, error: { path: 'event.usage_list.0' } });
  });

  it('over an authenticated channel (the long connection), a broken known event is reported as verified', () => {
    const body = seal(
      envelopeV2('hire.eco_exam.created_v1', { paper_id: 'p' }, { ...fields, eventId: 'ev-ws' }),
    );
    expect(parse(body, {})).toMatchObject({ ok: false, error: { code: 'schema_invalid' } });
    expect(parse(body, {}).ok || 'verifiedEvent' in (parse(body, {}) as { error: object }).error).toBe(false);
    expect(parse(body, { authenticatedChannel: true })).toMatchObject({
      ok: false,
      error: {
        code: 'schema_invalid',
        verifiedEvent: { id: 'ev-ws', type: 'hire.eco_exam.created_v1' },
      },
    });
  });

  it('over an authenticated channel, an encrypted body is opened with the key without a signature', () => {
    const unsigned = {
      headers: {},
      rawBody: seal(envelopeV2('hire.eco_exam.created_v1', exam, { ...fields, eventId: 'ev-sealed' }), {
        encryptKey,
      }).rawBody,
    };
    expect(errorCode(parse(unsigned, { encryptKey }))).toBe('bad_signature');
    expect(eventOf(parse(unsigned, { encryptKey, authenticatedChannel: true }))).toMatchObject({
      id: 'ev-sealed',
      type: 'hire.eco_exam.created_v1',
    });
  });

  it('a body that is neither envelope is schema_invalid', () => {
    const r = parse(seal({ hello: 'world' }, { encryptKey }), secrets);
    expect(errorCode(r)).toBe('schema_invalid');
    expect(
      parse(seal({ schema: '2.0', header: { event_type: 'x' }, event: {} }, { encryptKey }), secrets),
    ).toMatchObject({
      ok: false,
      error: { code: 'schema_invalid', path: 'header.event_id' },
    });
  });
});

describe('verification token', () => {
  it('is required on every event when configured: header.token (2.0), top-level token (1.0)', () => {
    const v2 = envelopeV2('hire.eco_exam.created_v1', exam, { ...fields, token: 'wrong' });
    expect(errorCode(parse(seal(v2, { encryptKey }), secrets))).toBe('bad_token');
    const v1 = envelopeV1('app_ticket', { app_ticket: 't' }, { ...fields, token: 'wrong' });
    expect(errorCode(parse(seal(v1, { encryptKey }), secrets))).toBe('bad_token');
    const { token: _omitted, ...header } = envelopeV2('x.y', {}, fields).header;
    expect(errorCode(parse(seal({ schema: '2.0', header, event: {} }, { encryptKey }), secrets))).toBe(
      'bad_token',
    );
  });

  it('is not checked when not configured', () => {
    const v2 = envelopeV2('hire.eco_exam.created_v1', exam, { ...fields, token: 'anything' });
    expect(errorCode(parse(seal(v2, { encryptKey }), { encryptKey }))).toBe('ok');
  });
});

describe('signature and freshness', () => {
  const env = () => envelopeV2('hire.eco_exam.created_v1', exam, fields);
  const now = 1_800_000_000_000;
  const at = (secondsAgo: number) => Math.floor(now / 1000) - secondsAgo;

  it('is computed over the raw bytes, whatever their whitespace', () => {
    const encrypt = encryptPayload(JSON.stringify(env()), encryptKey);
    const rawBody = Buffer.from(`{\n  "encrypt": "${encrypt}"\n}`);
    expect(errorCode(parse({ headers: signatureHeaders(rawBody, encryptKey), rawBody }, secrets))).toBe('ok');
  });

  it('refuses any changed byte, header or key', () => {
    const sealed = seal(env(), { encryptKey });
    const tampered = Buffer.from(sealed.rawBody);
    const at = tampered.length - 3;
    tampered[at] = (tampered[at] ?? 0) ^ 1;
    expect(errorCode(parse({ ...sealed, rawBody: tampered }, secrets))).toBe('bad_signature');
    const otherNonce = { ...sealed.headers, 'x-lark-request-nonce': 'other' };
    expect(errorCode(parse({ headers: otherNonce, rawBody: sealed.rawBody }, secrets))).toBe('bad_signature');
    expect(errorCode(parse(sealed, { ...secrets, encryptKey: 'other-key' }))).toBe('bad_signature');
    const noTimestamp = { ...sealed.headers, 'x-lark-request-timestamp': undefined };
    expect(errorCode(parse({ headers: noTimestamp, rawBody: sealed.rawBody }, secrets))).toBe(
      'bad_signature',
    );
  });

  it('matches header names case-insensitively, and refuses a repeated signature header', () => {
    const sealed = seal(env(), { encryptKey });
    const upper = Object.fromEntries(Object.entries(sealed.headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(errorCode(parse({ headers: upper, rawBody: sealed.rawBody }, secrets))).toBe('ok');
    const sig = sealed.headers['x-lark-signature'] as string;
    const twice = { ...sealed.headers, 'x-lark-signature': [sig, sig] };
    expect(errorCode(parse({ headers: twice, rawBody: sealed.rawBody }, secrets))).toBe('bad_signature');
  });

  it('accepts the signature in upper-case hex, refuses one character off, and signs large and non-ASCII bodies alike', () => {
    const sealed = seal(env(), { encryptKey });
    const sig = sealed.headers['x-lark-signature'] as string;
    const withSig = (s: string) => ({
      headers: { ...sealed.headers, 'x-lark-signature': s },
      rawBody: sealed.rawBody,
    });
    expect(errorCode(parse(withSig(sig.toUpperCase()), secrets))).toBe('ok');
    const flipped = `${sig.slice(0, 63)}${sig[63] === '0' ? '1' : '0'}`;
    expect(errorCode(parse(withSig(flipped), secrets))).toBe('bad_signature');
    expect(errorCode(parse(withSig(`${sig.slice(0, 63)}g`), secrets))).toBe('bad_signature');
    expect(errorCode(parse(withSig(sig.slice(0, 62)), secrets))).toBe('bad_signature');
    // Larger than the 64 KiB scratch buffer the signature is computed in; and a nonce outside ASCII.
    const large = seal(
      envelopeV2('hire.eco_exam.created_v1', { ...exam, padding: '王'.repeat(40_000) }, fields),
      { encryptKey, nonce: 'ñonce-王' },
    );
    expect(large.rawBody.length).toBeGreaterThan(64 * 1024);
    expect(errorCode(parse(large, secrets))).toBe('ok');
    const tampered = Buffer.from(large.rawBody);
    tampered[100] = (tampered[100] as number) ^ 1;
    expect(errorCode(parse({ ...large, rawBody: tampered }, secrets))).toBe('bad_signature');
  });

  it('is required on every event when an encrypt key is configured, encrypted or not', () => {
    const sealed = seal(env(), { encryptKey });
    expect(errorCode(parse({ headers: {}, rawBody: sealed.rawBody }, secrets))).toBe('bad_signature');
    const plain = seal(env());
    expect(errorCode(parse(plain, secrets))).toBe('bad_signature');
    expect(
      errorCode(
        parse({ headers: signatureHeaders(plain.rawBody, encryptKey), rawBody: plain.rawBody }, secrets),
      ),
    ).toBe('ok');
  });

  it('accepts the last of Feishu retries (15 s + 5 min + 1 h + 6 h after the first push) by default', () => {
    const lastRetry = 15 + 5 * 60 + 60 * 60 + 6 * 60 * 60 + 4 * 3;
    expect(DEFAULT_TOLERANCE_SECONDS).toBeGreaterThan(lastRetry);
    const sealed = seal(env(), { encryptKey, timestamp: at(lastRetry) });
    expect(errorCode(parse(sealed, { ...secrets, now: () => now }))).toBe('ok');
  });

  it('refuses a timestamp older than the tolerance, or from the future beyond clock skew', () => {
    const old = seal(env(), { encryptKey, timestamp: at(DEFAULT_TOLERANCE_SECONDS + 1) });
    expect(parse(old, { ...secrets, now: () => now })).toMatchObject({
      ok: false,
      error: { code: 'stale_timestamp', status: 401 },
    });
    const custom = seal(env(), { encryptKey, timestamp: at(61) });
    expect(errorCode(parse(custom, { ...secrets, now: () => now, toleranceSeconds: 60 }))).toBe(
      'stale_timestamp',
    );
    expect(errorCode(parse(custom, { ...secrets, now: () => now, toleranceSeconds: 62 }))).toBe('ok');
    const future = seal(env(), { encryptKey, timestamp: at(-301) });
    expect(errorCode(parse(future, { ...secrets, now: () => now }))).toBe('stale_timestamp');
    const skewed = seal(env(), { encryptKey, timestamp: at(-30) });
    expect(errorCode(parse(skewed, { ...secrets, now: () => now }))).toBe('ok');
  });

  it('checks freshness only after the signature, so an unsigned timestamp reveals nothing', () => {
    const sealed = seal(env(), { encryptKey, timestamp: at(100_000) });
    const forged = { ...sealed.headers, 'x-lark-signature': '0'.repeat(64) };
    expect(
      errorCode(parse({ headers: forged, rawBody: sealed.rawBody }, { ...secrets, now: () => now })),
    ).toBe('bad_signature');
  });
});

describe('decryption', () => {
  const signed = (encrypt: string) => {
    const rawBody = Buffer.from(JSON.stringify({ encrypt }));
    return { headers: signatureHeaders(rawBody, encryptKey), rawBody };
  };
  const good = () => encryptPayload(JSON.stringify(envelopeV2('x.y', {}, fields)), encryptKey);

  it('refuses truncated, misaligned, non-base64 and wrong-key ciphertexts with decrypt_failed', () => {
    const ciphertext = good();
    expect(errorCode(parse(signed(ciphertext), secrets))).toBe('ok');
    expect(errorCode(parse(signed(ciphertext.slice(0, 24)), secrets))).toBe('decrypt_failed');
    expect(
      errorCode(parse(signed(Buffer.from(ciphertext, 'base64').subarray(0, 40).toString('base64')), secrets)),
    ).toBe('decrypt_failed');
    expect(errorCode(parse(signed(`${ciphertext.slice(0, -4)}!!!!`), secrets))).toBe('decrypt_failed');
    expect(errorCode(parse(signed(encryptPayload('{"a":1}', 'another-key')), secrets))).toBe(
      'decrypt_failed',
    );
    expect(errorCode(parse(signed(''), secrets))).toBe('decrypt_failed');
  });

  it('an encrypt field that is not a string is schema_invalid', () => {
    const rawBody = Buffer.from('{"encrypt":42}');
    expect(parse({ headers: signatureHeaders(rawBody, encryptKey), rawBody }, secrets)).toMatchObject({
      ok: false,
      error: { code: 'schema_invalid', path: 'encrypt' },
    });
  });

  it('a decrypted payload that is not an object is body_not_object', () => {
    expect(errorCode(parse(signed(encryptPayload('[1,2]', encryptKey)), secrets))).toBe('body_not_object');
  });

  it('an encrypted body without a configured key is encrypt_key_not_configured (500: Feishu retries)', () => {
    expect(parse(seal(envelopeV2('x.y', {}, fields), { encryptKey }), { verificationToken })).toMatchObject({
      ok: false,
      error: { code: 'encrypt_key_not_configured', status: 500 },
    });
  });

  it('unsigned requests are no padding oracle: every decryption failure reads the same', () => {
    const bytes = Buffer.from(good(), 'base64');
    const badPadding = Buffer.from(bytes);
    const flip = badPadding.length - 17;
    badPadding[flip] = (badPadding[flip] ?? 0) ^ 0x55;
    const messages = [
      bytes.subarray(0, 40),
      badPadding,
      Buffer.from(encryptPayload('\u00ff', 'other'), 'base64'),
    ].map((b) => {
      const r = parse(
        { headers: {}, rawBody: Buffer.from(JSON.stringify({ encrypt: b.toString('base64') })) },
        secrets,
      );
      return r.ok ? 'ok' : `${r.error.code}|${r.error.message}`;
    });
    expect(new Set(messages).size).toBe(1);
    expect(messages[0]).toMatch(/^decrypt_failed\|/);
  });
});

describe('body limits and malformed input', () => {
  it('refuses a body over the limit before reading it', () => {
    const rawBody = Buffer.alloc(2 * 1024 * 1024, 0x20);
    expect(parse({ headers: {}, rawBody }, secrets)).toMatchObject({
      ok: false,
      error: { code: 'body_too_large', status: 413 },
    });
    expect(errorCode(parse({ headers: {}, rawBody: Buffer.from('{}') }, { maxBodyBytes: 1 }))).toBe(
      'body_too_large',
    );
  });

  it('non-JSON, invalid UTF-8 and non-object JSON each get their code', () => {
    const code = (text: Buffer) => errorCode(parse({ headers: {}, rawBody: text }, { verificationToken }));
    expect(code(Buffer.from('not json'))).toBe('malformed_json');
    expect(code(Buffer.from([0x7b, 0xff, 0x7d]))).toBe('malformed_json');
    expect(code(Buffer.from('null'))).toBe('body_not_object');
    expect(code(Buffer.from('"text"'))).toBe('body_not_object');
    expect(code(Buffer.from('[]'))).toBe('body_not_object');
  });

  it('accepts any Uint8Array as the body, not only a Buffer', () => {
    const sealed = seal(envelopeV2('x.y', {}, fields), { encryptKey });
    const view = new Uint8Array(sealed.rawBody);
    expect(errorCode(parse({ headers: sealed.headers, rawBody: view }, secrets))).toBe('ok');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encryptPayload,
  envelopeV2,
  type ParseResult,
  type ParseSecrets,
  parse,
  parseErrorCatalog,
  seal,
  signatureHeaders,
} from '../src/index.js';

const encryptKey = 'property-encrypt-key';
const verificationToken = 'property-token';
const secretsVariants: ParseSecrets[] = [
  {},
  { encryptKey },
  { verificationToken },
  { encryptKey, verificationToken, maxBodyBytes: 2048 },
];

/** Every outcome is a well-formed value: an event, a challenge, or an error with a known code. */
function wellFormed(result: ParseResult): void {
  expect(typeof result.ok).toBe('boolean');
  if (result.ok) {
    expect(['event', 'challenge']).toContain(result.kind);
    return;
  }
  expect(Object.keys(parseErrorCatalog)).toContain(result.error.code);
  expect(result.error.code).not.toBe('internal_error');
  expect(result.error.status).toBe(parseErrorCatalog[result.error.code].status);
}

const headerValue = fc.option(
  fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-f]{64}$/), fc.stringMatching(/^\d{10}$/)),
  { nil: undefined },
);
const headers = fc.record({
  'x-lark-request-timestamp': headerValue,
  'x-lark-request-nonce': headerValue,
  'x-lark-signature': headerValue,
  'content-type': fc.constant('application/json'),
});

describe('parse never throws', () => {
  it('on arbitrary bytes and headers', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4096 }),
        headers,
        fc.constantFrom(...secretsVariants),
        (bytes, h, secrets) => {
          wellFormed(parse({ headers: h, rawBody: bytes }, secrets));
        },
      ),
      { numRuns: 500, seed: 7 },
    );
  });

  it('on arbitrary JSON, and on JSON shaped like each envelope, raw or sealed', () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    const shaped = fc.oneof(
      json,
      fc.record({ schema: json, header: json, event: json }),
      fc.record({
        schema: fc.constant('2.0'),
        header: fc.record({
          event_id: json,
          event_type: fc.constantFrom('hire.eco_exam.created_v1', 'card.action.trigger', 'x'),
          token: fc.constantFrom(verificationToken, 'other'),
        }),
        event: json,
      }),
      fc.record({ encrypt: json }),
      fc.record({ uuid: json, token: json, type: fc.constant('event_callback'), event: json }),
      fc.record({ type: fc.constant('url_verification'), challenge: json, token: json }),
    );
    fc.assert(
      fc.property(shaped, fc.boolean(), fc.constantFrom(...secretsVariants), (value, sealed, secrets) => {
        const request =
          sealed && value !== null && typeof value === 'object' && !Array.isArray(value)
            ? seal(value, { encryptKey })
            : { headers: {}, rawBody: Buffer.from(JSON.stringify(value) ?? 'null') };
        wellFormed(parse(request, secrets));
      }),
      { numRuns: 500, seed: 11 },
    );
  });
});

const feishuId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

describe('seal and parse are inverse', () => {
  it('for arbitrary valid exam events', () => {
    const exam = fc.record(
      {
        exam_id: feishuId,
        paper_id: feishuId,
        candidate_info: fc.record(
          {
            name: fc.string({ unit: 'grapheme' }),
            email: fc.string(),
            mobile: fc.record({ code: fc.string(), number: fc.string() }),
          },
          { requiredKeys: [] },
        ),
        extra_field: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: ['exam_id'] },
    );
    fc.assert(
      fc.property(exam, fc.string({ minLength: 1, maxLength: 40 }), (event, eventId) => {
        const sealed = seal(
          envelopeV2('hire.eco_exam.created_v1', event, { eventId, token: verificationToken }),
          { encryptKey },
        );
        const result = parse(sealed, { encryptKey, verificationToken });
        expect(result).toMatchObject({
          ok: true,
          kind: 'event',
          event: { id: eventId, type: 'hire.eco_exam.created_v1' },
        });
        if (result.ok && result.kind === 'event')
          expect(result.event.payload).toEqual(JSON.parse(JSON.stringify(event)));
      }),
      { numRuns: 300, seed: 13 },
    );
  });
});

describe('Feishu ids are validated at the door', () => {
  it('an exam_id or account_id outside 1 to 64 of [A-Za-z0-9_-] is schema_invalid at its path, and never quoted (an empty optional id means none)', () => {
    const badId = fc
      .oneof(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{65,200}$/),
        fc.constantFrom('', '..', 'a/b', 'a?b', 'a#b', '../etc', 'a b', 'a.b', 'é', 'a\n'),
      )
      .filter((s) => !/^[A-Za-z0-9_-]{1,64}$/.test(s));
    fc.assert(
      fc.property(badId, fc.constantFrom('exam_id', 'account_id'), (id, field) => {
        // An empty account_id or paper_id is read as absent (catalog.ts); an empty exam_id is refused.
        fc.pre(id !== '' || field === 'exam_id');
        const event = { exam_id: 'e-1', account_id: 'acct-bj-1', paper_id: 'paper002', [field]: id };
        const sealed = seal(
          envelopeV2('hire.eco_exam.created_v1', event, { eventId: 'ev-1', token: verificationToken }),
          {
            encryptKey,
          },
        );
        const result = parse(sealed, { encryptKey, verificationToken });
        expect(result).toMatchObject({
          ok: false,
          error: { code: 'schema_invalid', path: `event.${field}`, verifiedEvent: { id: 'ev-1' } },
        });
        if (!result.ok && id.length > 3) expect(result.error.message).not.toContain(id);
      }),
      { numRuns: 300, seed: 17 },
    );
  });
});

describe("paper ids are the exam platform's (eco_exam_paper: 由调用方自定义, 1 to 255 characters)", () => {
  const examWithPaper = (paperId: string) =>
    parse(
      seal(
        envelopeV2(
          'hire.eco_exam.created_v1',
          { exam_id: 'e-1', paper_id: paperId },
          { eventId: 'ev-1', token: verificationToken },
        ),
        { encryptKey },
      ),
      { encryptKey, verificationToken },
    );

  it('any 1 to 255 characters without a control character are taken as they are', () => {
    const paperId = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 255 }).filter(
      // 255 characters as Feishu counts them (code points), none of them a control character (Cc).
      (s) => [...s].length <= 255 && !/\p{Cc}/u.test(s),
    );
    fc.assert(
      fc.property(
        fc.oneof(paperId, fc.constantFrom('aptitude.v2', 'Java 101', 'a/b?c#d', '..', 'p'.repeat(255))),
        (id) => {
          const result = examWithPaper(id);
          expect(result).toMatchObject({ ok: true, event: { payload: { paper_id: id } } });
        },
      ),
      { numRuns: 300, seed: 23 },
    );
  });

  it('a longer one, or one with a control character, is schema_invalid at event.paper_id, never quoted', () => {
    const badPaperId = fc.oneof(
      fc.string({ minLength: 256, maxLength: 600 }).filter((s) => [...s].length > 255),
      fc
        .tuple(
          fc.string({ maxLength: 20 }),
          fc.constantFrom('\n', '\t', '\u0000', '\u007f', '\u0085'),
          fc.string({ maxLength: 20 }),
        )
        .map(([a, c, b]) => `${a}${c}${b}`),
    );
    fc.assert(
      fc.property(badPaperId, (id) => {
        const result = examWithPaper(id);
        expect(result).toMatchObject({
          ok: false,
          error: { code: 'schema_invalid', path: 'event.paper_id' },
        });
        if (!result.ok && id.length > 3) expect(result.error.message).not.toContain(id);
      }),
      { numRuns: 300, seed: 29 },
    );
  });
});

describe('the fast path for a body that is exactly {"encrypt":"…"}', () => {
  it('gives the same result as the general JSON path (the same body with other whitespace)', () => {
    const validEvent = fc
      .record({ exam_id: feishuId, paper_id: feishuId, name: fc.string({ unit: 'grapheme' }) })
      .map((e) =>
        encryptPayload(
          JSON.stringify(
            envelopeV2('hire.eco_exam.created_v1', e, { eventId: 'ev', token: verificationToken }),
          ),
          encryptKey,
        ),
      );
    const encrypt = fc.oneof(
      validEvent,
      fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('base64')),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.stringMatching(/^[A-Za-z0-9+/=]{0,64}$/),
      validEvent.map((e) => `${e.slice(0, -2)}==`),
      fc.constantFrom('', '=', 'AB==', 'AB=C', '\\u0041BCD', 'QUJD\\n'),
    );
    fc.assert(
      fc.property(encrypt, fc.boolean(), fc.constantFrom(...secretsVariants), (text, signed, secrets) => {
        const exact = Buffer.from(JSON.stringify({ encrypt: text }));
        const spaced = Buffer.from(`{ "encrypt": ${JSON.stringify(text)} }`);
        const sign = (rawBody: Buffer) =>
          signed ? signatureHeaders(rawBody, encryptKey, { timestamp: 1_700_000_000, nonce: 'n' }) : {};
        const options = { ...secrets, now: () => 1_700_000_000_000 };
        expect(parse({ headers: sign(exact), rawBody: exact }, options)).toEqual(
          parse({ headers: sign(spaced), rawBody: spaced }, options),
        );
      }),
      { numRuns: 1000, seed: 19 },
    );
  });
});

import * as lark from '@larksuiteoapi/node-sdk';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encryptPayload,
  envelopeV1,
  envelopeV2,
  type FeishuEvent,
  parse,
  seal,
  signatureHeaders,
} from '../src/index.js';

/**
 * event-core against the official SDK's EventDispatcher, on the same bytes. The SDK's handler receives a
 * flattened object: schema 2.0 gives `{...rest, ...header, ...event}`, schema 1.0 `{...event, ...rest}`.
 * Every payload field must agree. The deliberate differences, asserted below:
 *  1. 2.0: where an event field has a header field's name, the SDK loses the header's value (a card's update
 *     `token` replaces the verification token). We keep header and payload apart.
 *  2. 1.0: the SDK's flat `type` is the envelope's "event_callback"; the event's own type (e.g. "app_ticket")
 *     is what we dispatch on and keep in payload.type.
 *  3. The verification token is never part of our event.
 *  4. Ids (exam_id, account_id, talent_id, application_id) must be 1 to 64 of [A-Za-z0-9_-], a paper_id 1 to
 *     255 characters without a control character; the SDK takes any string. The generated ids below are all
 *     valid; the last test shows the difference.
 *  5. The SDK passes header.create_time through; ours is always milliseconds (a card callback's is given in
 *     microseconds).
 */

const encryptKey = 'differential-encrypt-key';
const verificationToken = 'differential-verification-token';
const quiet = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };

async function viaSdk(
  request: { headers: Record<string, string>; rawBody: Buffer },
  type: string,
  withKey: boolean,
) {
  let received: Record<string, unknown> | undefined;
  const dispatcher = new lark.EventDispatcher({
    encryptKey: withKey ? encryptKey : undefined,
    verificationToken,
    logger: quiet,
  }).register({
    [type]: async (data: Record<string, unknown>) => {
      received = data;
    },
  });
  // Exactly what the SDK's adaptKoa does with a request.
  const data = Object.assign(
    Object.create({ headers: request.headers }),
    JSON.parse(request.rawBody.toString('utf8')),
  );
  await dispatcher.invoke(data);
  return received;
}

const text = fc.oneof(
  fc.constantFrom('王二', '张三丰', '🎉👩‍💻', 'Zoë Ångström', '', 'a "quoted" \\ back\nslash'),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);
const longText = fc.string({ unit: 'grapheme', minLength: 500, maxLength: 4000 });
const id = fc.stringMatching(/^[0-9a-z_]{1,32}$/);

const examEvent = fc.record(
  {
    exam_id: id,
    account_id: id,
    paper_id: id,
    candidate_info: fc.record(
      {
        name: text,
        mobile: fc.record({
          code: fc.constantFrom('86', '852', '1'),
          number: fc.stringMatching(/^\d{6,13}$/),
        }),
        email: fc.emailAddress(),
      },
      { requiredKeys: [] },
    ),
    talent_id: id,
    application_id: id,
  },
  { requiredKeys: ['exam_id'] },
);
const accountEvent = fc.record({
  scope: fc.constantFrom(1, 2),
  account_id: id,
  account_name: text,
  usage_list: fc.array(fc.constantFrom(1, 2), { maxLength: 2 }),
  custom_field_list: fc.array(fc.record({ key: id, value: fc.oneof(text, longText) }), { maxLength: 4 }),
});
const cardEvent = fc.record({
  operator: fc.record({ tenant_key: id, user_id: id, open_id: id.map((s) => `ou_${s}`), union_id: id }),
  token: id.map((s) => `c-${s}`),
  action: fc.record({
    value: fc.record({ action: fc.constantFrom('approve', 'reject'), exam_id: id }),
    tag: fc.constant('button'),
    form_value: fc.record({ reason: text }),
  }),
  host: fc.constant('im_message'),
  context: fc.record({ open_message_id: id.map((s) => `om_${s}`), open_chat_id: id.map((s) => `oc_${s}`) }),
});
const unknownEvent = fc.dictionary(
  id.filter((k) => !['type', 'app_id', 'tenant_key', 'token', 'uuid', 'ts'].includes(k)),
  text,
  { maxKeys: 5 },
);

const push = fc.oneof(
  fc.record({
    schema: fc.constant('2.0' as const),
    type: fc.constant('hire.eco_exam.created_v1'),
    event: examEvent,
  }),
  fc.record({
    schema: fc.constant('2.0' as const),
    type: fc.constant('hire.eco_account.created_v1'),
    event: accountEvent,
  }),
  fc.record({
    schema: fc.constant('2.0' as const),
    type: fc.constant('card.action.trigger'),
    event: cardEvent,
  }),
  fc.record({
    schema: fc.constant('2.0' as const),
    type: fc.constantFrom('im.message.receive_v1', 'contact.user.created_v3'),
    event: unknownEvent,
  }),
  fc.record({
    schema: fc.constant('1.0' as const),
    type: fc.constant('app_ticket'),
    event: fc.record({ app_ticket: id }),
  }),
  fc.record({
    schema: fc.constant('1.0' as const),
    type: fc.constantFrom('app_open', 'order_paid'),
    event: unknownEvent,
  }),
);

const headerFields = fc.record({
  eventId: id,
  tenantKey: id,
  appId: id.map((s) => `cli_${s}`),
  createdAt: fc.integer({ min: 1_500_000_000_000, max: 1_900_000_000_000 }),
});

describe('event-core and the official SDK agree on the same bytes', () => {
  it('field by field, for 250 generated pushes (both schemas, encrypted and plain)', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(push, headerFields, fc.boolean(), async (p, h, encrypted) => {
        runs++;
        const fields = { ...h, token: verificationToken };
        const envelope =
          p.schema === '2.0' ? envelopeV2(p.type, p.event, fields) : envelopeV1(p.type, p.event, fields);
        const request = seal(envelope, encrypted ? { encryptKey } : {});
        const now = Date.now();
        const ours = parse(request, {
          encryptKey: encrypted ? encryptKey : undefined,
          verificationToken,
          now: () => now,
        });
        const sdk = await viaSdk(request, p.type, encrypted);

        expect(ours.ok && ours.kind === 'event').toBe(true);
        expect(sdk).toBeDefined();
        if (!ours.ok || ours.kind !== 'event' || !sdk) return;
        const event: FeishuEvent = ours.event;

        for (const [key, value] of Object.entries(event.payload)) {
          if (p.schema === '1.0' && key === 'type') {
            // Difference 2.
            expect(sdk.type).toBe('event_callback');
            expect(value).toBe(p.type);
            continue;
          }
          expect(sdk[key], `payload.${key}`).toEqual(value);
        }
        expect(event.type === 'unknown' ? event.originalType : event.type).toBe(p.type);
        expect(event.appId).toBe(sdk.app_id);
        expect(event.tenantKey).toBe(sdk.tenant_key);
        if (p.schema === '2.0') {
          expect(event.id).toBe(sdk.event_id);
          // Difference 5: a card callback's create_time is in microseconds (卡片回传交互); ours is milliseconds.
          expect(event.createdAt).toBe(
            Number(sdk.create_time) / (p.type === 'card.action.trigger' ? 1000 : 1),
          );
        } else {
          expect(event.id).toBe(sdk.uuid);
          expect(event.createdAt).toBe(Math.round(Number(sdk.ts) * 1000));
        }
        if (p.type === 'card.action.trigger') {
          // Difference 1: the SDK's `token` is the card's; the verification token is gone from its object.
          expect(sdk.token).toBe((p.event as { token: string }).token);
          expect(sdk.token).not.toBe(verificationToken);
        }
        // Difference 3.
        expect(JSON.stringify(event)).not.toContain(verificationToken);
      }),
      { numRuns: 250, seed: 20261124 },
    );
    expect(runs).toBeGreaterThanOrEqual(200);
  });

  it('a body with other whitespace, signed over its raw bytes: accepted here, refused by the SDK', async () => {
    const envelope = envelopeV2(
      'hire.eco_exam.created_v1',
      { exam_id: 'ws-1' },
      { token: verificationToken },
    );
    const rawBody = Buffer.from(`{"encrypt": "${encryptPayload(JSON.stringify(envelope), encryptKey)}"}`);
    const request = { headers: signatureHeaders(rawBody, encryptKey), rawBody };
    expect(parse(request, { encryptKey, verificationToken })).toMatchObject({
      ok: true,
      kind: 'event',
      event: { payload: { exam_id: 'ws-1' } },
    });
    expect(await viaSdk(request, 'hire.eco_exam.created_v1', true)).toBeUndefined();
  });

  it('the SDK accepts an exam_id with a slash; we refuse it as schema_invalid (verified, so it can be recorded)', async () => {
    const request = seal(
      envelopeV2(
        'hire.eco_exam.created_v1',
        { exam_id: '../7147998241542539527' },
        { token: verificationToken },
      ),
      { encryptKey },
    );
    expect(await viaSdk(request, 'hire.eco_exam.created_v1', true)).toMatchObject({
      exam_id: '../7147998241542539527',
    });
    expect(parse(request, { encryptKey, verificationToken })).toMatchObject({
      ok: false,
      error: {
        code: 'schema_invalid',
        path: 'event.exam_id',
        verifiedEvent: { type: 'hire.eco_exam.created_v1' },
      },
    });
  });

  it('the SDK accepts a forged verification token; we do not', async () => {
    const request = seal(envelopeV2('hire.eco_exam.created_v1', { exam_id: 'forged' }, { token: 'forged' }), {
      encryptKey,
    });
    expect(await viaSdk(request, 'hire.eco_exam.created_v1', true)).toMatchObject({ exam_id: 'forged' });
    expect(parse(request, { encryptKey, verificationToken })).toMatchObject({
      ok: false,
      error: { code: 'bad_token' },
    });
  });

  it('the SDK accepts a day-old signed timestamp; we do not', async () => {
    const request = seal(
      envelopeV2('hire.eco_exam.created_v1', { exam_id: 'old' }, { token: verificationToken }),
      {
        encryptKey,
        timestamp: Math.floor(Date.now() / 1000) - 86_400,
      },
    );
    expect(await viaSdk(request, 'hire.eco_exam.created_v1', true)).toMatchObject({ exam_id: 'old' });
    expect(parse(request, { encryptKey, verificationToken })).toMatchObject({
      ok: false,
      error: { code: 'stale_timestamp' },
    });
  });
});

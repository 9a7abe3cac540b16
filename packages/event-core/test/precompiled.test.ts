import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { eventCatalog } from '../src/catalog.js';
import { envelopeV1, envelopeV2, urlVerification } from '../src/envelope.js';
import { precompiled, predicateOf } from '../src/precompiled.js';

const schemas: Record<string, z.ZodType> = {
  ...eventCatalog,
  envelopeV2,
  envelopeV1,
  urlVerification,
};

/** Values near each schema's shape: valid ones, each field mutated, and arbitrary JSON. */
const idLike = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  fc.constantFrom('', '..', 'a/b', 'x'.repeat(65), 'é', '7147998241542539527'),
);
const scalar = fc.oneof(
  idLike,
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const leaf = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 3 }),
  fc.dictionary(fc.string(), scalar, { maxKeys: 3 }),
);
const keys = fc.constantFrom(
  'exam_id',
  'account_id',
  'paper_id',
  'talent_id',
  'application_id',
  'candidate_info',
  'name',
  'mobile',
  'code',
  'number',
  'email',
  'scope',
  'account_name',
  'usage_list',
  'custom_field_list',
  'key',
  'value',
  'operator',
  'open_id',
  'token',
  'action',
  'tag',
  'form_value',
  'context',
  'url',
  'app_ticket',
  'app_id',
  'type',
  'schema',
  'header',
  'event',
  'event_id',
  'event_type',
  'create_time',
  'uuid',
  'ts',
  'challenge',
  '__proto__',
  'other',
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.dictionary(keys, tie('node'), { maxKeys: 8 }),
    fc.array(tie('node'), { maxLength: 3 }),
  ),
})).node;
/** JSON.parse makes `__proto__` an own key; fast-check's dictionary would set the prototype instead. */
const jsonValue = value.map((v) => JSON.parse(JSON.stringify(v) ?? 'null') as unknown);

const examples: Record<string, unknown> = {
  'hire.eco_exam.created_v1': {
    exam_id: '7147998241542539527',
    account_id: 'acct-bj-1',
    paper_id: 'paper002',
    candidate_info: { name: '王二', mobile: { code: '86', number: '18900001111' }, email: 'x@y.z' },
    talent_id: '6891560630172518670',
    application_id: '6891565253964859661',
    extra: { kept: true },
  },
  'hire.eco_account.created_v1': {
    scope: 2,
    account_id: 'tenant_demo_0001',
    usage_list: [1, 2],
    custom_field_list: [{ key: 'k', value: 'v' }],
  },
  'card.action.trigger': {
    operator: { open_id: 'ou_1', user_id: 'u' },
    token: 'c-1',
    action: { value: { action: 'approve' }, tag: 'button', form_value: { a: 1 } },
    context: { open_message_id: 'om_1' },
  },
  app_ticket: { app_id: 'cli_1', app_ticket: 't', type: 'app_ticket' },
  app_open: { app_id: 'cli_1', tenant_key: '2ca1d211f64f6438', type: 'app_open', applicants: [] },
  app_status_change: {
    app_id: 'cli_1',
    tenant_key: 'tk',
    type: 'app_status_change',
    status: 'stop_by_tenant',
  },
  app_uninstalled: { app_id: 'cli_1', tenant_key: 'tk', type: 'app_uninstalled' },
  // 机器人进群 / 机器人被移出群 / 群解散 (the SDK's index.d.ts, im.chat.member.bot.added_v1 and after).
  'im.chat.member.bot.added_v1': {
    chat_id: 'oc_413871bde3a3fe0b0e8d5bf5f1c5ab4e',
    operator_id: { union_id: 'on_1', user_id: 'u_1', open_id: 'ou_1' },
    external: false,
    operator_tenant_key: '736588c9260f175d',
    name: '审批群',
    i18n_names: { zh_cn: '审批群', en_us: 'Approvals' },
  },
  'im.chat.member.bot.deleted_v1': {
    chat_id: 'oc_413871bde3a3fe0b0e8d5bf5f1c5ab4e',
    operator_id: { open_id: 'ou_1' },
    external: true,
    operator_tenant_key: '736588c9260f175d',
  },
  'im.chat.disbanded_v1': {
    chat_id: 'oc_413871bde3a3fe0b0e8d5bf5f1c5ab4e',
    operator_id: { open_id: 'ou_1' },
  },
  envelopeV2: { schema: '2.0', header: { event_id: 'e', event_type: 't', create_time: '1' }, event: {} },
  envelopeV1: { uuid: 'u', ts: '1.5', token: 't', type: 'event_callback', event: { type: 'app_ticket' } },
  urlVerification: { type: 'url_verification', challenge: 'c', header: { token: 't' } },
};

/** The example with one field (at any depth) replaced by a generated value. */
function mutate(example: unknown, path: number, replacement: unknown): unknown {
  const clone = JSON.parse(JSON.stringify(example)) as unknown;
  const slots: Array<[Record<string, unknown>, string]> = [];
  const walk = (v: unknown) => {
    if (v && typeof v === 'object')
      for (const [k, child] of Object.entries(v)) {
        slots.push([v as Record<string, unknown>, k]);
        walk(child);
      }
  };
  walk(clone);
  const slot = slots[path % Math.max(1, slots.length)];
  if (slot) slot[0][slot[1]] = replacement;
  return clone;
}

describe('precompiled schema checks', () => {
  it.each(Object.keys(schemas))('%s compiles to a predicate (no fallback to zod on the hot path)', (name) => {
    expect(predicateOf(schemas[name] as z.ZodType)).toBeTypeOf('function');
  });

  it.each(Object.keys(schemas))(
    '%s: the predicate agrees with zod, and an accepted value is what zod returns',
    (name) => {
      const schema = schemas[name] as z.ZodType;
      const accepts = predicateOf(schema) as (v: unknown) => boolean;
      const example = examples[name];
      expect(accepts(example)).toBe(true);
      const candidates = fc.oneof(
        jsonValue,
        fc.tuple(fc.nat(), jsonValue).map(([path, v]) => mutate(example, path, v)),
        fc.tuple(fc.nat(), scalar).map(([path, v]) => mutate(example, path, v)),
      );
      fc.assert(
        fc.property(candidates, (candidate) => {
          const zod = schema.safeParse(candidate);
          // An own __proto__ key is left to zod (which drops it): there the predicate only has to be sound.
          if (JSON.stringify(candidate).includes('"__proto__"')) {
            if (accepts(candidate)) expect(zod.success).toBe(true);
          } else expect(accepts(candidate)).toBe(zod.success);
          const fast = precompiled(schema)(candidate);
          expect(fast.success).toBe(zod.success);
          if (zod.success) expect(fast.data).toStrictEqual(zod.data);
          else expect(fast.error?.issues).toEqual(zod.error.issues);
        }),
        { numRuns: 1500, seed: 23 },
      );
    },
  );

  it('leaves to zod a schema with a kind or check it does not know', () => {
    expect(predicateOf(z.object({ a: z.string() }))).toBeUndefined(); // strips unknown keys
    expect(predicateOf(z.looseObject({ a: z.string().email() }))).toBeUndefined();
    expect(predicateOf(z.looseObject({ a: z.string().transform((s) => s.length) }))).toBeUndefined();
    expect(predicateOf(z.looseObject({ a: z.number().positive() }))).toBeUndefined();
    expect(predicateOf(z.looseObject({ a: z.string().default('x') }))).toBeUndefined();
    expect(predicateOf(z.looseObject({ a: z.string() }).refine(() => true))).toBeUndefined();
    const fallback = precompiled(z.looseObject({ a: z.string().email() }));
    expect(fallback({ a: 'not an email' }).success).toBe(false);
  });
});

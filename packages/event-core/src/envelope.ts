import { z } from 'zod';

/**
 * The two envelopes Feishu pushes in. Schema 2.0 keeps routing data in `header`; schema 1.0 (older
 * events and app_ticket) keeps it at the top level and in `event`. Both are normalised to one shape.
 */
export const envelopeV2 = z.looseObject({
  schema: z.string(),
  header: z.looseObject({
    event_id: z.string().min(1),
    event_type: z.string().min(1),
    create_time: z.union([z.string(), z.number()]).optional(),
    token: z.string().optional(),
    app_id: z.string().optional(),
    tenant_key: z.string().optional(),
  }),
  event: z.record(z.string(), z.unknown()),
});

export const envelopeV1 = z.looseObject({
  uuid: z.string().min(1),
  ts: z.union([z.string(), z.number()]).optional(),
  token: z.string().optional(),
  type: z.string().optional(),
  event: z.looseObject({
    type: z.string().min(1),
    app_id: z.string().optional(),
    tenant_key: z.string().optional(),
  }),
});

/**
 * A challenge carries its token at the top level, or in a schema 2.0 `header` (the Go SDK's own fixture,
 * event/dispatcher/dispatcher_test.go, is a `{"schema":"2.0","header":{…,"token":"v"},"challenge":…}`;
 * its dispatcher reads header.token when a header is present, the node SDK does not check a challenge's
 * token at all).
 */
export const urlVerification = z.looseObject({
  type: z.literal('url_verification'),
  challenge: z.string(),
  token: z.string().optional(),
  header: z.looseObject({ token: z.string().optional() }).optional(),
});

/** header.create_time is epoch milliseconds as a string. */
export function millisFromCreateTime(value: string | number | undefined): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** Schema 1.0's ts is epoch seconds, possibly with a fraction ("1502199207.7171419"). */
export function millisFromTs(value: string | number | undefined): number | undefined {
  const n = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? Math.round(n * 1000) : undefined;
}

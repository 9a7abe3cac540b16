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

/**
 * header.create_time: epoch milliseconds as a string, except in card.action.trigger, whose callback page gives
 * it in microseconds (微秒级时间戳, "1603977298000000"). Told apart by size: in milliseconds a 16-digit time is
 * after the year 5000.
 */
export function millisFromCreateTime(value: string | number | undefined): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) return undefined;
  return n >= MICROSECONDS_FROM ? Math.floor(n / 1000) : n;
}

/** 10^14: 5138 AD in milliseconds, 1973 in microseconds. */
const MICROSECONDS_FROM = 1e14;

/** Schema 1.0's ts is epoch seconds, possibly with a fraction ("1502199207.7171419"). */
export function millisFromTs(value: string | number | undefined): number | undefined {
  const n = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? Math.round(n * 1000) : undefined;
}

import type { EventPayloads, KnownEventType } from './catalog.js';

/** Fields every push carries, whichever envelope (schema 1.0 or 2.0) it came in. */
export interface EventMeta {
  /** header.event_id (2.0) or uuid (1.0): Feishu's id for this push; re-pushes repeat it. */
  readonly id: string;
  readonly schema: '1.0' | '2.0';
  /** Epoch milliseconds: header.create_time (2.0) or ts × 1000 (1.0). */
  readonly createdAt: number | undefined;
  readonly tenantKey: string | undefined;
  readonly appId: string | undefined;
}

export type KnownEvent<K extends KnownEventType = KnownEventType> = K extends KnownEventType
  ? EventMeta & { readonly type: K; readonly payload: EventPayloads[K] }
  : never;

/** A well-formed, verified push of a type not in the catalog: valid, not an error. */
export interface UnknownEvent extends EventMeta {
  readonly type: 'unknown';
  /** The type Feishu named (header.event_type or event.type). */
  readonly originalType: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

export type FeishuEvent = KnownEvent | UnknownEvent;
export type EventType = FeishuEvent['type'];
export type EventOf<T extends EventType> = Extract<FeishuEvent, { type: T }>;

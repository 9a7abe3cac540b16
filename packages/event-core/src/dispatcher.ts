import type { EventOf, EventType, FeishuEvent } from './event.js';

export type EventHandler<T extends EventType, Ctx, R> = (event: EventOf<T>, ctx: Ctx) => R | Promise<R>;

export interface HandlerFailure {
  readonly type: EventType;
  readonly error: unknown;
}

export interface DispatchOutcome<R> {
  /** How many handlers ran for the event's type. Zero means nobody listens to it. */
  readonly handled: number;
  /** The values the handlers returned, in registration order, skipping the ones that failed. */
  readonly results: readonly R[];
  /** Handler failures are gathered here, never rethrown: one bad handler cannot crash the caller. */
  readonly failures: readonly HandlerFailure[];
}

/**
 * Routes each parsed event to the handlers registered for its type, with the payload type inferred from
 * the event catalog: `on('hire.eco_exam.created_v1', (event) => event.payload.exam_id)` type-checks.
 * `Ctx` is whatever the caller hands every handler (a logger, a tenant's client, a store).
 */
export class EventDispatcher<Ctx = void, R = unknown> {
  readonly #handlers = new Map<EventType, Array<EventHandler<EventType, Ctx, R>>>();

  on<T extends EventType>(type: T, handler: EventHandler<T, Ctx, R>): this {
    const list = this.#handlers.get(type) ?? [];
    list.push(handler as unknown as EventHandler<EventType, Ctx, R>);
    this.#handlers.set(type, list);
    return this;
  }

  has(type: EventType): boolean {
    return (this.#handlers.get(type)?.length ?? 0) > 0;
  }

  async dispatch(event: FeishuEvent, ctx: Ctx): Promise<DispatchOutcome<R>> {
    const handlers = this.#handlers.get(event.type) ?? [];
    const results: R[] = [];
    const failures: HandlerFailure[] = [];
    for (const handler of handlers) {
      try {
        results.push(await handler(event as EventOf<EventType>, ctx));
      } catch (error) {
        failures.push({ type: event.type, error });
      }
    }
    return { handled: handlers.length, results, failures };
  }
}

import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type EcoExamCreatedPayload,
  EventDispatcher,
  envelopeV2,
  type FeishuEvent,
  parse,
  seal,
} from '../src/index.js';

function exam(examId: string): FeishuEvent {
  const r = parse(seal(envelopeV2('hire.eco_exam.created_v1', { exam_id: examId }, {})), {});
  if (!r.ok || r.kind !== 'event') throw new Error('fixture did not parse');
  return r.event;
}

describe('EventDispatcher', () => {
  it('gives each handler the payload type inferred from the catalog', async () => {
    const seen: string[] = [];
    const d = new EventDispatcher<{ prefix: string }, string>().on(
      'hire.eco_exam.created_v1',
      (event, ctx) => {
        expectTypeOf(event.payload).toEqualTypeOf<EcoExamCreatedPayload>();
        expectTypeOf(event.payload.exam_id).toEqualTypeOf<string>();
        seen.push(`${ctx.prefix}${event.payload.exam_id}`);
        return event.payload.exam_id;
      },
    );
    const outcome = await d.dispatch(exam('e-1'), { prefix: '#' });
    expect(seen).toEqual(['#e-1']);
    expect(outcome).toEqual({ handled: 1, results: ['e-1'], failures: [] });
  });

  it('runs every handler of a type in order, and only those', async () => {
    const calls: string[] = [];
    const d = new EventDispatcher()
      .on('hire.eco_exam.created_v1', () => void calls.push('a'))
      .on('card.action.trigger', () => void calls.push('card'))
      .on('hire.eco_exam.created_v1', async () => void calls.push('b'));
    await d.dispatch(exam('e'), undefined);
    expect(calls).toEqual(['a', 'b']);
    expect(d.has('app_ticket')).toBe(false);
  });

  it('gathers handler failures as values: one failing handler neither throws nor stops the others', async () => {
    const boom = new Error('boom');
    const d = new EventDispatcher<void, string>()
      .on('hire.eco_exam.created_v1', () => {
        throw boom;
      })
      .on('hire.eco_exam.created_v1', async () => 'still ran');
    const outcome = await d.dispatch(exam('e'), undefined);
    expect(outcome.results).toEqual(['still ran']);
    expect(outcome.failures).toEqual([{ type: 'hire.eco_exam.created_v1', error: boom }]);
  });

  it('routes unknown event types to on("unknown") with the original type', async () => {
    const r = parse(seal(envelopeV2('contact.user.created_v3', { user: {} }, {})), {});
    if (!r.ok || r.kind !== 'event') throw new Error('fixture did not parse');
    let original = '';
    const d = new EventDispatcher().on('unknown', (event) => {
      expectTypeOf(event.originalType).toEqualTypeOf<string>();
      original = event.originalType;
    });
    expect((await d.dispatch(r.event, undefined)).handled).toBe(1);
    expect(original).toBe('contact.user.created_v3');
    expect((await new EventDispatcher().dispatch(r.event, undefined)).handled).toBe(0);
  });
});

// Approve and Reject on the approval card: the usual click (a pending exam's card) is decided by one statement
// that finds the exam by its card, with no read of the exam before it; every other click is told apart as
// before (not recorded yet, not this exam's card, decided meanwhile, a Reject without its reason).
import { envelopeV2, parse, seal } from '@feishu-exam/event-core';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type CardCallbackResponse, handleCardAction } from '../src/bot/card-actions.js';
import { approvalCard } from '../src/bot/cards.js';
import { ExamEntity, type ExamRow, JobEntity, openStore, type Store, type Tx } from '../src/store/index.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import { examCreatedEvent, testDatabaseUrl, testStoreOptions } from './support.js';

const silent = pino({ level: 'silent' });
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** A store with one pending exam per id, and how many times a click read exams before deciding. */
async function storeWithExams(...examIds: string[]) {
  const store = await openStore(testDatabaseUrl(), silent, testStoreOptions);
  stores.push(store);
  await store.write((tx) =>
    examLifecycle.receiveMany(
      tx,
      examIds.map((id) => examCreatedEvent(id)),
      1,
    ),
  );
  const reads = { count: 0 };
  const counted: Store = {
    ...store,
    findBy: (entity, where) => {
      reads.count++;
      return store.findBy(entity, where);
    },
    findOneBy: (entity, where) => {
      reads.count++;
      return store.findOneBy(entity, where);
    },
  };
  return { store, counted, reads };
}

function click(
  store: Store,
  examId: string,
  messageId: string,
  decision: 'approve' | 'reject',
  reason = '',
): Promise<CardCallbackResponse & { woken: number }> {
  const r = parse(
    seal(
      envelopeV2('card.action.trigger', {
        operator: { open_id: 'ou_staff' },
        action: { value: { action: decision, exam_id: examId }, tag: 'button', form_value: { reason } },
        context: { open_message_id: messageId },
      }),
    ),
    {},
  );
  if (!r.ok || r.kind !== 'event' || r.event.type !== 'card.action.trigger') throw new Error('fixture');
  let woken = 0;
  return handleCardAction(
    r.event,
    {
      store,
      approverOpenIds: new Set(),
      cardOf: async (exam: ExamRow) => approvalCard(exam, { showContact: false }),
      now: () => 5,
      onDecision: () => {
        woken++;
      },
    },
    silent,
  ).then((answer) => ({ ...answer, woken }));
}

const stateOf = async (store: Store, examId: string) =>
  (await store.findOneBy(ExamEntity, { examId }))?.state;
const jobsOf = async (store: Store, kind: string) =>
  store.dataSource.getRepository(JobEntity).countBy({ kind });

describe('a click on the approval card', () => {
  it('an Approve, and a Reject with its reason, on a pending card: decided with no read of the exam first', async () => {
    const { store, counted, reads } = await storeWithExams('c-1', 'c-2');
    await store.write(async (tx) => {
      await examLifecycle.cardPosted(tx, 'c-1', 'om_c1', 2);
      await examLifecycle.cardPosted(tx, 'c-2', 'om_c2', 2);
    });

    const approved = await click(counted, 'c-1', 'om_c1', 'approve');
    expect(approved).toMatchObject({ toast: { type: 'success' }, card: { type: 'raw' }, woken: 1 });
    const rejected = await click(counted, 'c-2', 'om_c2', 'reject', ' no seat left ');
    expect(rejected).toMatchObject({ toast: { type: 'success' }, woken: 1 });
    expect(reads.count).toBe(0);

    expect(await stateOf(store, 'c-1')).toBe('arranging');
    expect(await stateOf(store, 'c-2')).toBe('rejected');
    expect((await store.findOneBy(ExamEntity, { examId: 'c-2' }))?.rejectReason).toBe('no seat left');
    expect(await jobsOf(store, 'arrange')).toBe(1);
    expect(await jobsOf(store, 'report_login_info')).toBe(1);
  });

  it('the other clicks are told apart as before, and change nothing', async () => {
    const { store, counted } = await storeWithExams('o-1', 'o-2');
    await store.write((tx) => examLifecycle.cardPosted(tx, 'o-1', 'om_o1', 2));

    // o-2's card is posted but Feishu's answer is not recorded yet: staff are asked to click again.
    expect(await click(counted, 'o-2', 'om_o2', 'approve')).toMatchObject({
      toast: { type: 'warning' },
      woken: 0,
    });
    // A card that is not the exam's (its value names o-1, the message is another).
    expect(await click(counted, 'o-1', 'om_other', 'approve')).toMatchObject({
      toast: { type: 'error' },
      woken: 0,
    });
    // A Reject without a reason on a pending card is refused.
    expect(await click(counted, 'o-1', 'om_o1', 'reject')).toMatchObject({
      toast: { type: 'warning' },
      woken: 0,
    });
    expect(await stateOf(store, 'o-1')).toBe('pending_approval');
    expect(await stateOf(store, 'o-2')).toBe('pending_approval');

    // Decided, then clicked again (Approve or Reject, with a reason or without): answered with the decision.
    expect(await click(counted, 'o-1', 'om_o1', 'approve')).toMatchObject({ woken: 1 });
    for (const [decision, reason] of [
      ['approve', ''],
      ['reject', 'late'],
      ['reject', ''],
    ] as const) {
      expect(await click(counted, 'o-1', 'om_o1', decision, reason)).toMatchObject({
        toast: { type: 'info' },
        card: { type: 'raw' },
        woken: 0,
      });
    }
    expect(await stateOf(store, 'o-1')).toBe('arranging');
    expect(await jobsOf(store, 'arrange')).toBe(1);
  });
});

describe.skipIf(process.env.TEST_DATABASE !== 'postgres')('a click on PostgreSQL', () => {
  it('whose card is recorded between the decision and its read-back is decided, not answered as decided already', async () => {
    const { store } = await storeWithExams('p-1');
    // Each statement reads its own snapshot: the UPDATE finds no exam with this card yet, and the card is
    // recorded (another transaction commits) before the read that tells "not found" from "decided already".
    let recorded = false;
    const recordTheCardAfterTheUpdate = (tx: Tx): Tx => ({
      manager: tx.manager,
      dataSource: tx.dataSource,
      run: (sql, params) => tx.run(sql, params),
      all: async (sql, params) => {
        const rows = await tx.all(sql, params);
        if (!recorded && sql.startsWith('UPDATE exams SET state')) {
          recorded = true;
          await store.dataSource.query('UPDATE exams SET card_message_id = $1 WHERE exam_id = $2', [
            'om_p1',
            'p-1',
          ]);
        }
        return rows as never;
      },
    });
    const outcome = await store.write((tx) =>
      examLifecycle.approve(
        recordTheCardAfterTheUpdate(tx),
        { examId: 'p-1', cardMessageId: 'om_p1' },
        'ou_staff',
        5,
      ),
    );
    expect(recorded).toBe(true);
    expect(outcome).toMatchObject({ ok: true, exam: { state: 'arranging', decidedBy: 'ou_staff' } });
    expect(await jobsOf(store, 'arrange')).toBe(1);
  });
});

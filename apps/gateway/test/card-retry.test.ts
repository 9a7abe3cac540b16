// The stuck-job notice's Retry button: an allowed operator revives the dead job; anyone else, or a job that
// is no longer dead, changes nothing.
import { envelopeV2, parse, seal } from '@feishu-exam/event-core';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { handleCardAction } from '../src/bot/card-actions.js';
import { approvalCard } from '../src/bot/cards.js';
import { enqueueJob } from '../src/outbox/jobs.js';
import { type ExamRow, JobEntity, openStore, type Store } from '../src/store/index.js';
import { testDatabaseUrl, testStoreOptions } from './support.js';

const silent = pino({ level: 'silent' });
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function storeWithDeadJob() {
  const store = await openStore(testDatabaseUrl(), silent, testStoreOptions);
  stores.push(store);
  await store.write(async (tx) => {
    await enqueueJob(tx, { kind: 'report_login_info', examId: 'e-1', idempotencyKey: 'dead-1' }, 1);
    await tx.run("UPDATE outbox_jobs SET state = 'dead', attempts = 1, last_error = 'refused'");
  });
  const [job] = await store.dataSource.getRepository(JobEntity).find();
  return { store, jobId: (job as { id: string }).id };
}

function retryClick(store: Store, jobId: string, operator: string) {
  const r = parse(
    seal(
      envelopeV2('card.action.trigger', {
        operator: { open_id: operator },
        action: { value: { action: 'retry', job_id: jobId }, tag: 'button' },
        context: { open_message_id: 'om_notice' },
      }),
    ),
    {},
  );
  if (!r.ok || r.kind !== 'event' || r.event.type !== 'card.action.trigger') throw new Error('fixture');
  let woken = 0;
  const answer = handleCardAction(
    r.event,
    {
      store,
      approverOpenIds: new Set(['ou_approver']),
      cardOf: async (exam: ExamRow) => approvalCard(exam, { showContact: false }),
      now: () => 5,
      onDecision: () => {
        woken++;
      },
    },
    silent,
  );
  return answer.then((a) => ({ ...a, woken }));
}

const stateOf = async (store: Store, id: string) =>
  (await store.dataSource.getRepository(JobEntity).findOneByOrFail({ id })).state;

describe('Retry on the stuck-job notice', () => {
  it('an approver revives the dead job; a second click says there is nothing to retry', async () => {
    const { store, jobId } = await storeWithDeadJob();
    const first = await retryClick(store, jobId, 'ou_approver');
    expect(first.toast).toMatchObject({ type: 'success', i18n: { en_us: 'Retrying now.' } });
    expect(first.woken).toBe(1);
    expect(await stateOf(store, jobId)).toBe('pending');
    const again = await retryClick(store, jobId, 'ou_approver');
    expect(again.toast).toMatchObject({ type: 'info' });
    expect(again.woken).toBe(0);
  });

  it('someone who may not decide changes nothing', async () => {
    const { store, jobId } = await storeWithDeadJob();
    const refused = await retryClick(store, jobId, 'ou_someone_else');
    expect(refused.toast).toMatchObject({ type: 'error' });
    expect(await stateOf(store, jobId)).toBe('dead');
  });
});

// events: what the gateway does with each verified event. An exam is committed before it is acknowledged;
// a card click moves the exam and answers with the updated card.
import { EventDispatcher } from '@feishu-exam/event-core';
import { type CardActionDeps, handleCardAction } from '../bot/card-actions.js';
import type { EventContext, WebhookReply } from '../http/webhook.js';
import { maskEmail, maskPhone } from '../log.js';
import type { OutboxWorker } from '../outbox/worker.js';
import { accountBinding } from '../workflow/accounts.js';
import type { ExamIngest } from '../workflow/ingest.js';

export interface EventHandlerDeps extends Omit<CardActionDeps, 'onDecision'> {
  readonly worker: OutboxWorker;
  readonly ingest: ExamIngest;
  /** The provider a newly bound account is assigned. */
  readonly accountProviderId: string;
}

export function createEventDispatcher(deps: EventHandlerDeps): EventDispatcher<EventContext, WebhookReply> {
  const { worker, ingest, store, now } = deps;
  return new EventDispatcher<EventContext, WebhookReply>()
    .on('hire.eco_exam.created_v1', async (event, { log, duplicate }) => {
      const outcome = await ingest.receive(event);
      if (outcome !== 'created') duplicate();
      const { exam_id, account_id, paper_id, candidate_info } = event.payload;
      log.info(
        {
          outcome,
          examId: exam_id,
          accountId: account_id,
          paperId: paper_id,
          tenantKey: event.tenantKey,
          candidate: {
            phone: maskPhone(candidate_info?.mobile?.number, candidate_info?.mobile?.code),
            emailMasked: maskEmail(candidate_info?.email),
          },
        },
        'exam received',
      );
      return undefined;
    })
    .on('card.action.trigger', (event, { log }) =>
      handleCardAction(event, { ...deps, onDecision: () => worker.wake() }, log),
    )
    .on('hire.eco_account.created_v1', async (event, { log, duplicate }) => {
      const outcome = await store.write((tx) =>
        accountBinding.bind(tx, event, deps.accountProviderId, now()),
      );
      if (outcome === 'duplicate_event') duplicate();
      else worker.wake();
      log.info(
        {
          outcome,
          accountId: event.payload.account_id,
          scope: event.payload.scope,
          tenantKey: event.tenantKey,
        },
        'account binding received',
      );
      return undefined;
    })
    .on('unknown', (event, { log }) => {
      log.info({ originalType: event.originalType }, 'event type not handled; acknowledged');
      return undefined;
    });
}

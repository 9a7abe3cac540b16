// events: what the gateway does with each verified event. For now an accepted exam is logged (masked);
// the approval workflow takes over here in the next step.
import { EventDispatcher } from '@feishu-exam/event-core';
import type { EventContext, WebhookReply } from '../http/webhook.js';
import { maskEmail, maskPhone } from '../log.js';

export function createEventDispatcher(): EventDispatcher<EventContext, WebhookReply> {
  return new EventDispatcher<EventContext, WebhookReply>()
    .on('hire.eco_exam.created_v1', (event, { log }) => {
      const { exam_id, account_id, paper_id, candidate_info, talent_id, application_id } = event.payload;
      log.info(
        {
          examId: exam_id,
          accountId: account_id,
          paperId: paper_id,
          talentId: talent_id,
          applicationId: application_id,
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
    .on('hire.eco_account.created_v1', (event, { log }) => {
      log.info(
        { accountId: event.payload.account_id, tenantKey: event.tenantKey },
        'account binding received',
      );
      return undefined;
    })
    .on('unknown', (event, { log }) => {
      log.info({ originalType: event.originalType }, 'event type not handled; acknowledged');
      return undefined;
    });
}

// events: what the gateway does with each verified event. An exam is committed before it is acknowledged;
// a card click moves the exam and answers with the updated card.
import { EventDispatcher } from '@feishu-exam/event-core';
import { type CardActionDeps, handleCardAction } from '../bot/card-actions.js';
import type { AppTickets } from '../feishu/app-ticket.js';
import type { EventContext, WebhookReply } from '../http/webhook.js';
import { maskEmail, maskPhone } from '../log.js';
import { reviveJobsRefusedOutsideChat } from '../outbox/jobs.js';
import type { OutboxWorker } from '../outbox/worker.js';
import { accountBinding } from '../workflow/accounts.js';
import type { ExamIngest } from '../workflow/ingest.js';
import type { TenantDirectory } from '../workflow/tenant-directory.js';
import { stateOfStatus } from '../workflow/tenants.js';

export interface EventHandlerDeps extends Omit<CardActionDeps, 'onDecision'> {
  readonly worker: OutboxWorker;
  readonly ingest: ExamIngest;
  /** The provider a newly bound account is assigned. */
  readonly accountProviderId: string;
  readonly tenants: TenantDirectory;
  /** Marketplace: where pushed app_tickets are kept. Self-built apps get none (and need none). */
  readonly tickets: AppTickets | undefined;
  /** The staff chat (APPROVAL_CHAT_ID): the bot's membership of it decides whether cards can be posted. */
  readonly approvalChatId: string;
}

export function createEventDispatcher(deps: EventHandlerDeps): EventDispatcher<EventContext, WebhookReply> {
  const { worker, ingest, store, now, tenants } = deps;
  /** A lifecycle event's time orders it against the others of its tenant; a push without one counts as now. */
  const sentAt = (event: { createdAt: number | undefined }) => event.createdAt ?? now();
  return (
    new EventDispatcher<EventContext, WebhookReply>()
      .on('hire.eco_exam.created_v1', async (event, { log, duplicate }) => {
        await tenants.noticed(event.tenantKey, event.appId);
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
        await tenants.noticed(event.tenantKey, event.appId);
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
      .on('app_ticket', async (event, { log }) => {
        if (!deps.tickets) {
          log.info('app_ticket pushed to a self-built app: ignored (FEISHU_APP_TYPE is self_built)');
          return undefined;
        }
        await deps.tickets.receive(
          event.payload.app_ticket,
          event.payload.app_id ?? event.appId,
          event.createdAt,
        );
        return undefined;
      })
      .on('app_open', async (event, { log }) => {
        const outcome = await tenants.lifecycle(
          event.payload.tenant_key,
          event.appId,
          'active',
          sentAt(event),
        );
        log.info({ tenantKey: event.payload.tenant_key, outcome }, 'tenant installed the app');
        return undefined;
      })
      .on('app_status_change', async (event, { log }) => {
        const { tenant_key: tenantKey, status } = event.payload;
        const state = stateOfStatus(status);
        if (!state) {
          log.warn(
            { tenantKey, status },
            'app_status_change with an unknown status: acknowledged, not applied',
          );
          return undefined;
        }
        const outcome = await tenants.lifecycle(tenantKey, event.appId, state, sentAt(event));
        log.info({ tenantKey, status, state, outcome }, 'tenant app status changed');
        return undefined;
      })
      .on('app_uninstalled', async (event, { log }) => {
        const tenantKey = event.payload.tenant_key;
        const outcome = await tenants.lifecycle(tenantKey, event.appId, 'uninstalled', sentAt(event));
        log.info({ tenantKey, outcome }, 'tenant uninstalled the app');
        return undefined;
      })
      // The bot's membership of the staff chat. Out of it, every card post is refused (230002) and its job dies; the
      // stuck-job notice goes to the same chat and dies too, so the operator is told here, in the log. Added back
      // (Feishu's remedy for 230002), those jobs are queued again. Other chats are none of the gateway's business.
      .on('im.chat.member.bot.added_v1', async (event, { log }) => {
        await tenants.noticed(event.tenantKey, event.appId);
        if (event.payload.chat_id !== deps.approvalChatId) return undefined;
        const revived = await store.write((tx) => reviveJobsRefusedOutsideChat(tx, now()));
        if (revived > 0) worker.wake();
        log.info(
          { chatId: event.payload.chat_id, revived },
          'bot added to the approval chat: cards can be posted',
        );
        return undefined;
      })
      .on('im.chat.member.bot.deleted_v1', async (event, { log }) => {
        await tenants.noticed(event.tenantKey, event.appId);
        if (event.payload.chat_id !== deps.approvalChatId) return undefined;
        log.error(
          { chatId: event.payload.chat_id },
          'the bot was removed from the approval chat (APPROVAL_CHAT_ID): no card can be posted until it is added back; the cards refused meanwhile are posted then',
        );
        return undefined;
      })
      .on('im.chat.disbanded_v1', async (event, { log }) => {
        await tenants.noticed(event.tenantKey, event.appId);
        if (event.payload.chat_id !== deps.approvalChatId) return undefined;
        log.error(
          { chatId: event.payload.chat_id },
          'the approval chat (APPROVAL_CHAT_ID) was disbanded: no card can be posted; set APPROVAL_CHAT_ID to another chat with the bot in it and retry the dead jobs',
        );
        return undefined;
      })
      .on('unknown', async (event, { log }) => {
        await tenants.noticed(event.tenantKey, event.appId);
        log.info({ originalType: event.originalType }, 'event type not handled; acknowledged');
        return undefined;
      })
  );
}

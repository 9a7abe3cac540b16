import type { KnownEvent } from '@feishu-exam/event-core';
import type { Logger } from '../log.js';
import { ExamEntity, type ExamRow, type Store } from '../store/index.js';
import { examLifecycle, keyOf, type TransitionOutcome } from '../workflow/exam-lifecycle.js';
import { approvalCard, type ButtonValue, type CardOptions, type CustomerLabel, formatTime } from './cards.js';

export interface CardActionDeps {
  readonly store: Store;
  /** Open ids allowed to decide; empty means anyone who can see the card. */
  readonly approverOpenIds: ReadonlySet<string>;
  readonly cardOptions: CardOptions;
  readonly now: () => number;
  /** Called after a decision commits, so the outbox picks up the job it created at once. */
  readonly onDecision: () => void;
  /** Marketplace: the vendor's own tenant; a click from any other tenant is refused. */
  readonly staffTenantKey?: string | undefined;
  /** Marketplace: which customer an exam is for, for the card in the answer. */
  readonly customerOf?: ((tenantKey: string) => Promise<CustomerLabel | undefined>) | undefined;
}

type Toast = { type: 'info' | 'success' | 'error' | 'warning'; content: string };
/** Feishu's card callback answer: a toast, and optionally the card to show instead (JSON 2.0 stays 2.0). */
export type CardCallbackResponse = { toast?: Toast; card?: { type: 'raw'; data: Record<string, unknown> } };

function isButtonValue(value: unknown): value is ButtonValue {
  const v = value as Partial<ButtonValue> | undefined;
  return (
    (v?.action === 'approve' || v?.action === 'reject') &&
    typeof v.exam_id === 'string' &&
    v.exam_id.length > 0
  );
}

export const CARD_NOT_REGISTERED = 'This card is still being registered. Please click again in a moment.';

const verbOf = (exam: ExamRow) => (exam.state === 'rejected' ? 'rejected' : 'approved');

/**
 * A staff member clicked Approve or Reject. Answered within Feishu's 3 s with HTTP 200: the decision is
 * committed (state + next job, one transaction), the card is updated in place, a toast says what happened.
 */
export async function handleCardAction(
  event: KnownEvent<'card.action.trigger'>,
  deps: CardActionDeps,
  log: Logger,
): Promise<CardCallbackResponse> {
  const { operator, action } = event.payload;
  if (!isButtonValue(action.value)) {
    return { toast: { type: 'error', content: 'This card is not one of ours, or is out of date.' } };
  }
  const { action: decision, exam_id: examId } = action.value;
  // Marketplace: staff sit in the vendor's tenant. A click from a customer's tenant (the app's bot in one of
  // their chats, a forwarded card) must not decide on exams.
  const clickTenant = operator.tenant_key ?? event.tenantKey;
  if (deps.staffTenantKey && clickTenant !== deps.staffTenantKey) {
    log.warn(
      { examId, operator: operator.open_id, operatorTenant: clickTenant, decision },
      'card action refused: operator is not in the staff tenant',
    );
    return {
      toast: {
        type: 'error',
        content: "Only the vendor's staff can decide on exams; this click came from another organisation.",
      },
    };
  }
  if (deps.approverOpenIds.size > 0 && !deps.approverOpenIds.has(operator.open_id)) {
    log.warn({ examId, operator: operator.open_id, decision }, 'card action refused: operator not allowed');
    return {
      toast: {
        type: 'error',
        content: 'You are not allowed to decide on exams. Ask an administrator to add you.',
      },
    };
  }

  // The button's value is only what the card says; the card itself is the message Feishu names. A click
  // decides only the exam whose card it came from, so a value naming another exam changes nothing.
  const cardMessageId = event.payload.context?.open_message_id;
  // Several customers may have an exam with this id (marketplace): the card names which one.
  const candidates = await deps.store.dataSource.getRepository(ExamEntity).findBy({ examId });
  const exam = (cardMessageId && candidates.find((e) => e.cardMessageId === cardMessageId)) || null;
  if (!exam && cardMessageId && candidates.some((e) => e.cardMessageId === null)) {
    // Posted, but Feishu's answer is not committed yet (a moment's race, or a restart): the click cannot be
    // tied to the card until it is, so staff are asked to click again rather than trusted blindly.
    return { toast: { type: 'warning', content: CARD_NOT_REGISTERED } };
  }
  if (!exam || !cardMessageId || exam.cardMessageId !== cardMessageId) {
    log.warn(
      { examId, operator: operator.open_id, decision, cardMessageId },
      "card action refused: the click did not come from this exam's card",
    );
    return { toast: { type: 'error', content: 'This card is not one of ours, or is out of date.' } };
  }

  const formReason = (action.form_value as { reason?: unknown } | undefined)?.reason;
  const reason = (typeof formReason === 'string' ? formReason : (action.input_value ?? '')).trim();
  if (decision === 'reject' && reason === '') {
    return { toast: { type: 'warning', content: 'Please enter a reason before rejecting.' } };
  }

  const outcome: TransitionOutcome = await deps.store.write((tx) =>
    decision === 'approve'
      ? examLifecycle.approve(tx, keyOf(exam), operator.open_id, deps.now())
      : examLifecycle.reject(tx, keyOf(exam), operator.open_id, reason.slice(0, 500), deps.now()),
  );

  if (!outcome.ok && outcome.reason === 'not_found') {
    return { toast: { type: 'error', content: `Exam ${examId} is not known to the gateway.` } };
  }
  if (!outcome.ok) {
    const exam = outcome.exam;
    log.info(
      { examId, operator: operator.open_id, decision, state: exam.state },
      'card action on a decided exam: no change',
    );
    return {
      toast: {
        type: 'info',
        content: `Already ${verbOf(exam)} by ${exam.decidedBy ?? 'someone'} at ${formatTime(exam.decidedAt)}. Nothing changed.`,
      },
      card: { type: 'raw', data: approvalCard(exam, await optionsFor(deps, exam)) },
    };
  }
  deps.onDecision();
  log.info(
    { examId, operator: operator.open_id, decision },
    decision === 'approve' ? 'exam approved' : 'exam rejected',
  );
  return {
    toast:
      decision === 'approve'
        ? { type: 'success', content: 'Approved. Arranging the exam…' }
        : { type: 'success', content: 'Rejected. Feishu Hire will be told.' },
    card: { type: 'raw', data: approvalCard(outcome.exam, await optionsFor(deps, outcome.exam)) },
  };
}

/** The card options, with the exam's customer when the app serves several. */
async function optionsFor(deps: CardActionDeps, exam: ExamRow): Promise<CardOptions> {
  const customer = await deps.customerOf?.(exam.tenantKey);
  return customer ? { ...deps.cardOptions, customer } : deps.cardOptions;
}

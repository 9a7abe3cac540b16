import type { KnownEvent } from '@feishu-exam/event-core';
import type { Logger } from '../log.js';
import { reviveJob } from '../outbox/jobs.js';
import { ExamEntity, type ExamRow, type Store } from '../store/index.js';
import { type ExamRef, examLifecycle, keyOf, type TransitionOutcome } from '../workflow/exam-lifecycle.js';
import { type ButtonValue, formatTime, type RetryValue } from './cards.js';
import { type Toast, toast } from './i18n/index.js';

export interface CardActionDeps {
  readonly store: Store;
  /** Open ids allowed to decide; empty means anyone who can see the card. */
  readonly approverOpenIds: ReadonlySet<string>;
  /**
   * The exam's card as it stands, as the outbox draws it (workflow/exam-card.ts): the answer replaces the whole
   * card, so it must carry every fact the posted card shows. No call to Feishu: the answer is due within 3 s.
   */
  readonly cardOf: (exam: ExamRow) => Promise<Record<string, unknown>>;
  readonly now: () => number;
  /** Called after a decision commits, so the outbox picks up the job it created at once. */
  readonly onDecision: () => void;
  /** Marketplace: the vendor's own tenant; a click from any other tenant is refused. */
  readonly staffTenantKey?: string | undefined;
}

/**
 * Feishu's card callback answer: a toast, and optionally the card to show instead (JSON 2.0 stays 2.0; the new
 * callback's form, card.action.trigger: an old-style click is answered with the toast alone).
 */
export type CardCallbackResponse = { toast?: Toast; card?: { type: 'raw'; data: Record<string, unknown> } };

function isButtonValue(value: unknown): value is ButtonValue {
  const v = value as Partial<ButtonValue> | undefined;
  return (
    (v?.action === 'approve' || v?.action === 'reject') &&
    typeof v.exam_id === 'string' &&
    v.exam_id.length > 0
  );
}

function isRetryValue(value: unknown): value is RetryValue {
  const v = value as Partial<RetryValue> | undefined;
  return (
    v?.action === 'retry' && typeof v.job_id === 'string' && v.job_id.length > 0 && v.job_id.length <= 64
  );
}

export const CARD_NOT_REGISTERED = toast('warning', (c) => c.toast.notRegistered);
const NOT_OURS = toast('error', (c) => c.toast.notOurs);

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
  const value = action.value;
  if (!isRetryValue(value) && !isButtonValue(value)) return { toast: NOT_OURS };
  // Marketplace: staff sit in the vendor's tenant. A click from a customer's tenant (the app's bot in one of
  // their chats, a forwarded card) must not decide on exams, nor retry their steps.
  const clickTenant = operator.tenant_key ?? event.tenantKey;
  if (deps.staffTenantKey && clickTenant !== deps.staffTenantKey) {
    log.warn(
      { value, operator: operator.open_id, operatorTenant: clickTenant },
      'card action refused: operator is not in the staff tenant',
    );
    return { toast: toast('error', (c) => c.toast.otherTenant) };
  }
  if (deps.approverOpenIds.size > 0 && !deps.approverOpenIds.has(operator.open_id)) {
    log.warn({ value, operator: operator.open_id }, 'card action refused: operator not allowed');
    return { toast: toast('error', (c) => c.toast.notAllowed) };
  }
  if (isRetryValue(value)) return retryStuckJob(value, operator.open_id, deps, log);
  const { action: decision, exam_id: examId } = value;

  // The button's value is only what the card says; the card itself is the message Feishu names. A click
  // decides only the exam whose card it came from, so a value naming another exam changes nothing.
  const cardMessageId = event.payload.context?.open_message_id;
  const formReason = (action.form_value as { reason?: unknown } | undefined)?.reason;
  const reason = (typeof formReason === 'string' ? formReason : (action.input_value ?? '')).trim();
  // 消息卡片回传交互（旧） (card.action.trigger_v1, which event-core gives as a schema 1.0 card.action.trigger)
  // is answered with a toast and the card's own 1.0 JSON at the top level (header, elements, config: its
  // 响应回调的结构体; on error 200673 Feishu reads everything but `toast` as the card), not with the new
  // callback's `card: { type: 'raw', data }`; and the card the gateway posts is JSON 2.0, which has no 1.0 form.
  // So an old-style click is answered with its toast alone, and the card of the exam it decided is patched by
  // the outbox at once (no answer of the click can overwrite it).
  const answersWithCard = event.schema !== '1.0';
  const decide = (ref: ExamRef) =>
    deps.store.write(async (tx) => {
      const now = deps.now();
      const outcome =
        decision === 'approve'
          ? await examLifecycle.approve(tx, ref, operator.open_id, now)
          : await examLifecycle.reject(tx, ref, operator.open_id, reason.slice(0, 500), now);
      if (outcome.ok && !answersWithCard) await examLifecycle.decisionNotShown(tx, keyOf(outcome.exam), now);
      return outcome;
    });
  const withCard = async (answer: { toast: Toast }, exam: ExamRow): Promise<CardCallbackResponse> =>
    answersWithCard ? { ...answer, card: { type: 'raw', data: await deps.cardOf(exam) } } : answer;

  // The usual click (on a pending exam's card, a Reject with its reason): decided in one statement that finds
  // the exam by its card, with no read before it (a full-row read of the exam per click, ~1.3 with the
  // clicks that come before the card is recorded; BENCHMARKS.md, session 11). Anything else (no such card
  // yet, a card decided meanwhile, a Reject without a reason) is told apart by the reads below.
  if (cardMessageId && (decision === 'approve' || reason !== '')) {
    const outcome = await decide({ examId, cardMessageId });
    if (outcome.ok) return decided(outcome.exam);
    if (outcome.reason === 'wrong_state') return alreadyDecided(outcome.exam);
  }
  // Several customers may have an exam with this id (marketplace): the card names which one.
  const candidates = await deps.store.findBy(ExamEntity, { examId });
  const exam = (cardMessageId && candidates.find((e) => e.cardMessageId === cardMessageId)) || null;
  if (!exam && cardMessageId && candidates.some((e) => e.cardMessageId === null)) {
    // Posted, but Feishu's answer is not committed yet (a moment's race, or a restart): the click cannot be
    // tied to the card until it is, so staff are asked to click again rather than trusted blindly.
    return { toast: CARD_NOT_REGISTERED };
  }
  if (!exam || !cardMessageId || exam.cardMessageId !== cardMessageId) {
    log.warn(
      { examId, operator: operator.open_id, decision, cardMessageId },
      "card action refused: the click did not come from this exam's card",
    );
    return { toast: NOT_OURS };
  }

  // Only a pending exam needs a reason: a Reject on a card decided meanwhile is answered with that decision.
  if (decision === 'reject' && reason === '' && exam.state === 'pending_approval') {
    return { toast: toast('warning', (c) => c.toast.reasonRequired) };
  }

  const outcome: TransitionOutcome = await decide(keyOf(exam));
  if (!outcome.ok && outcome.reason === 'not_found') {
    return { toast: toast('error', (c) => c.toast.unknownExam) };
  }
  return outcome.ok ? decided(outcome.exam) : alreadyDecided(outcome.exam);

  /** The click decided the exam: committed, so the outbox takes its next step now. */
  async function decided(exam: ExamRow): Promise<CardCallbackResponse> {
    deps.onDecision();
    log.info(
      { examId, operator: operator.open_id, decision },
      decision === 'approve' ? 'exam approved' : 'exam rejected',
    );
    return withCard(
      { toast: toast('success', (c) => (decision === 'approve' ? c.toast.approved : c.toast.rejected)) },
      exam,
    );
  }

  /** The exam was decided before this click (another staff member, a second click): nothing changes. */
  async function alreadyDecided(exam: ExamRow): Promise<CardCallbackResponse> {
    log.info(
      { examId, operator: operator.open_id, decision, state: exam.state },
      'card action on a decided exam: no change',
    );
    return withCard(
      {
        toast: toast('info', (c) =>
          c.toast.alreadyDecided(
            exam.state !== 'rejected',
            exam.decidedBy ?? c.someone,
            formatTime(exam.decidedAt),
          ),
        ),
      },
      exam,
    );
  }
}

/**
 * Retry on the stuck-job notice (the operator was checked like a decision's): revives the dead job. Only a dead
 * job can be revived, so a stale or repeated click changes nothing.
 */
async function retryStuckJob(
  value: RetryValue,
  operator: string,
  deps: CardActionDeps,
  log: Logger,
): Promise<CardCallbackResponse> {
  const revived = await deps.store.write((tx) => reviveJob(tx, value.job_id, deps.now()));
  if (!revived) return { toast: toast('info', (c) => c.toast.notDead) };
  deps.onDecision();
  log.info({ jobId: value.job_id, operator }, 'stuck job retried from its card');
  return { toast: toast('success', (c) => c.toast.retried) };
}

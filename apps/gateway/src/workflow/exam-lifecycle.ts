// workflow: THE place where an exam changes state. Every state, every allowed transition, and the job each
// transition starts, written in the same transaction. A transition is a conditional update
// (`WHERE state = <expected>`), so when two clicks or two replicas race, exactly one wins.
//
//   pending_approval ──approve──▶ arranging ──loginInfoReported──▶ arranged
//          │                          └──arrangementFailed──▶ failed
//          └──reject──▶ rejected
//

import { createHash } from 'node:crypto';
import type { EcoExamCreatedPayload, KnownEvent } from '@feishu-exam/event-core';
import { enqueueJob, enqueueJobs } from '../outbox/jobs.js';
import {
  type Arrangement,
  ExamEntity,
  type ExamResult,
  type ExamRow,
  type ExamState,
  entityRows,
  findOneBy,
  type Tx,
} from '../store/index.js';

export type ReceiveOutcome = 'created' | 'duplicate_event' | 'duplicate_exam';

/** `not_this_provider`: the exam was arranged by another provider instance (or by none). */
export type ResultOutcome = 'recorded' | 'unchanged' | 'not_arranged' | 'not_this_provider';

export type TransitionOutcome =
  | { readonly ok: true; readonly exam: ExamRow }
  | { readonly ok: false; readonly reason: 'not_found' }
  | { readonly ok: false; readonly reason: 'wrong_state'; readonly exam: ExamRow };

/** The final states: nothing moves an exam out of them. */
export const FINAL_STATES: readonly ExamState[] = ['arranged', 'rejected', 'failed'];

export const examLifecycle = {
  async find(tx: Tx, examId: string): Promise<ExamRow | null> {
    return findOneBy(tx, ExamEntity, { examId });
  },

  /**
   * `hire.eco_exam.created_v1` pushes arrived. For each: records the event id (a re-push is a no-op),
   * creates the exam in pending_approval (a second event for the same exam is a no-op), and queues its
   * approval card. A whole batch costs four statements, however many events it holds.
   */
  async receiveMany(
    tx: Tx,
    events: readonly KnownEvent<'hire.eco_exam.created_v1'>[],
    now: number,
  ): Promise<ReceiveOutcome[]> {
    if (events.length === 0) return [];
    // One look-up for both: which event ids were seen, which exams exist.
    const seen = await tx.all<{ kind: 'event' | 'exam'; id: string }>(
      `SELECT 'event' AS kind, event_id AS id FROM processed_events WHERE event_id IN (${marks(events.length)})
       UNION ALL
       SELECT 'exam' AS kind, exam_id AS id FROM exams WHERE exam_id IN (${marks(events.length)})`,
      [...events.map((e) => e.id), ...events.map((e) => e.payload.exam_id)],
    );
    const seenEvents = new Set(seen.filter((r) => r.kind === 'event').map((r) => r.id));
    const seenExams = new Set(seen.filter((r) => r.kind === 'exam').map((r) => r.id));
    const outcomes: ReceiveOutcome[] = [];
    const eventRows: unknown[][] = [];
    const examRows: unknown[][] = [];
    for (const event of events) {
      const p: EcoExamCreatedPayload = event.payload;
      if (seenEvents.has(event.id)) {
        outcomes.push('duplicate_event');
        continue;
      }
      seenEvents.add(event.id);
      if (seenExams.has(p.exam_id)) {
        outcomes.push('duplicate_exam');
        eventRows.push([event.id, event.type, p.exam_id, 'duplicate', now]);
        continue;
      }
      seenExams.add(p.exam_id);
      outcomes.push('created');
      eventRows.push([event.id, event.type, p.exam_id, 'accepted', now]);
      examRows.push([
        p.exam_id,
        event.tenantKey ?? '',
        event.appId ?? '',
        event.id,
        p.account_id ?? null,
        p.paper_id ?? null,
        p.talent_id ?? null,
        p.application_id ?? null,
        JSON.stringify({
          name: p.candidate_info?.name,
          mobileCode: p.candidate_info?.mobile?.code,
          mobileNumber: p.candidate_info?.mobile?.number,
          email: p.candidate_info?.email,
        }),
        now,
        now,
      ]);
    }
    // ON CONFLICT DO NOTHING: on PostgreSQL another replica may have won the same row meanwhile.
    if (eventRows.length > 0) {
      await tx.run(
        `INSERT INTO processed_events (event_id, event_type, exam_id, outcome, reason, received_at)
         VALUES ${eventRows.map(() => '(?, ?, ?, ?, NULL, ?)').join(', ')} ON CONFLICT DO NOTHING`,
        eventRows.flat(),
      );
    }
    if (examRows.length > 0) {
      await tx.run(
        `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, account_id, paper_id, talent_id, application_id,
           candidate, state, received_at, updated_at)
         VALUES ${examRows.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending_approval', ?, ?)").join(', ')} ON CONFLICT DO NOTHING`,
        examRows.flat(),
      );
      await enqueueJobs(
        tx,
        examRows.map((row) => ({
          kind: 'post_card',
          examId: String(row[0]),
          idempotencyKey: `post_card:${row[0]}`,
        })),
        now,
      );
    }
    return outcomes;
  },

  async receive(tx: Tx, event: KnownEvent<'hire.eco_exam.created_v1'>, now: number): Promise<ReceiveOutcome> {
    const [outcome] = await examLifecycle.receiveMany(tx, [event], now);
    return outcome as ReceiveOutcome;
  },

  /** A verified push whose payload is broken: kept, with its reason, for the operator to see. */
  async recordRejectedEvent(
    tx: Tx,
    eventId: string,
    eventType: string,
    reason: string,
    now: number,
  ): Promise<void> {
    await tx.run(
      `INSERT INTO processed_events (event_id, event_type, exam_id, outcome, reason, received_at)
       VALUES (?, ?, NULL, 'rejected', ?, ?) ON CONFLICT DO NOTHING`,
      [eventId, eventType, reason.slice(0, 2000), now],
    );
  },

  async cardPosted(tx: Tx, examId: string, messageId: string, now: number): Promise<void> {
    await tx.run(
      `UPDATE exams SET card_message_id = ?, updated_at = ? WHERE exam_id = ? AND card_message_id IS NULL`,
      [messageId, now, examId],
    );
  },

  /** Staff approved: the exam is arranged on the platform next. */
  async approve(tx: Tx, examId: string, operator: string, now: number): Promise<TransitionOutcome> {
    const outcome = await transition(
      tx,
      examId,
      'pending_approval',
      'arranging',
      { decided_by: operator, decided_at: now },
      now,
    );
    if (outcome.ok)
      await enqueueJob(tx, { kind: 'arrange', examId, idempotencyKey: `arrange:${examId}` }, now);
    return outcome;
  },

  /** Staff rejected: Feishu Hire is told the arrangement failed, with the reason. */
  async reject(
    tx: Tx,
    examId: string,
    operator: string,
    reason: string,
    now: number,
  ): Promise<TransitionOutcome> {
    const outcome = await transition(
      tx,
      examId,
      'pending_approval',
      'rejected',
      { decided_by: operator, decided_at: now, reject_reason: reason },
      now,
    );
    if (outcome.ok) await queueLoginInfoReport(tx, examId, now);
    return outcome;
  },

  /**
   * The platform arranged the exam: keep the arrangement and which provider instance made it (only that one
   * may report the result), then report it to Feishu Hire.
   */
  async arrangementMade(
    tx: Tx,
    examId: string,
    providerId: string,
    arrangement: Arrangement,
    now: number,
  ): Promise<void> {
    await tx.run(
      `UPDATE exams SET arrangement = ?, provider_id = ?, updated_at = ? WHERE exam_id = ? AND state = 'arranging'`,
      [JSON.stringify(arrangement), providerId, now, examId],
    );
    await queueLoginInfoReport(tx, examId, now);
  },

  /** The platform refused for good: the exam failed, and Feishu Hire is told so. */
  async arrangementFailed(tx: Tx, examId: string, reason: string, now: number): Promise<TransitionOutcome> {
    const outcome = await transition(tx, examId, 'arranging', 'failed', { failure_reason: reason }, now);
    if (outcome.ok) await queueLoginInfoReport(tx, examId, now);
    return outcome;
  },

  /**
   * A provider reported a result. Only an arranged exam (Feishu Hire has its login info) can have one, and
   * only from the provider instance that arranged it: a platform cannot write results for another's exams.
   * A changed result is reported again (Feishu overwrites until the customer has graded), the same is not.
   */
  async resultReceived(
    tx: Tx,
    examId: string,
    providerId: string,
    result: ExamResult,
    now: number,
  ): Promise<ResultOutcome> {
    const exam = await examLifecycle.find(tx, examId);
    if (!exam || exam.state !== 'arranged') return 'not_arranged';
    if (exam.providerId !== providerId) return 'not_this_provider';
    const serialized = JSON.stringify(result);
    if (exam.result && JSON.stringify(exam.result) === serialized) return 'unchanged';
    await tx.run('UPDATE exams SET result = ?, updated_at = ? WHERE exam_id = ?', [serialized, now, examId]);
    const version = createHash('sha256').update(serialized).digest('hex').slice(0, 16);
    await enqueueJob(
      tx,
      { kind: 'report_result', examId, idempotencyKey: `report_result:${examId}:${version}` },
      now,
    );
    await enqueueJob(
      tx,
      { kind: 'refresh_card', examId, idempotencyKey: `refresh_card:${examId}:result:${version}` },
      now,
    );
    return 'recorded';
  },

  /** The polling round: one poll job for every arranged exam still without a result. */
  async queueResultPolls(tx: Tx, round: string, now: number): Promise<number> {
    const exams = await tx.all<{ exam_id: string }>(
      "SELECT exam_id FROM exams WHERE state = 'arranged' AND result IS NULL",
    );
    for (const { exam_id } of exams) {
      await enqueueJob(
        tx,
        {
          kind: 'poll_result',
          examId: exam_id,
          idempotencyKey: `poll_result:${exam_id}:${round}`,
          maxAttempts: 3,
        },
        now,
      );
    }
    return exams.length;
  },

  /**
   * Retention: exams that ended (a final state, unchanged since `endedBefore`) lose the candidate's contact
   * data and the exam password. The name, the decision and the result stay for the records. Returns how many
   * exams were erased; a round handles at most `limit`, the next round the rest.
   */
  async erasePersonalData(tx: Tx, endedBefore: number, now: number, limit = 500): Promise<number> {
    const ended = await tx.all<{ exam_id: string; candidate: string; arrangement: string | null }>(
      `SELECT exam_id, candidate, arrangement FROM exams
       WHERE state IN (${marks(FINAL_STATES.length)}) AND updated_at < ? AND personal_data_erased_at IS NULL
       LIMIT ?`,
      [...FINAL_STATES, endedBefore, limit],
    );
    for (const row of ended) {
      const { name } = JSON.parse(row.candidate) as { name?: string };
      const arrangement = row.arrangement
        ? { ...(JSON.parse(row.arrangement) as Arrangement), password: undefined }
        : null;
      await tx.run(
        'UPDATE exams SET candidate = ?, arrangement = ?, personal_data_erased_at = ? WHERE exam_id = ?',
        [JSON.stringify({ name }), arrangement && JSON.stringify(arrangement), now, row.exam_id],
      );
    }
    return ended.length;
  },

  async resultReported(tx: Tx, examId: string, now: number): Promise<void> {
    await tx.run('UPDATE exams SET result_reported_at = ?, updated_at = ? WHERE exam_id = ?', [
      now,
      now,
      examId,
    ]);
  },

  /** Feishu Hire has the arrangement (or the failure): an arranging exam is now arranged; refresh the card. */
  async loginInfoReported(tx: Tx, examId: string, now: number): Promise<void> {
    await tx.run(`UPDATE exams SET login_info_reported_at = ?, updated_at = ? WHERE exam_id = ?`, [
      now,
      now,
      examId,
    ]);
    await transition(tx, examId, 'arranging', 'arranged', {}, now);
    await enqueueJob(
      tx,
      { kind: 'refresh_card', examId, idempotencyKey: `refresh_card:${examId}:final` },
      now,
    );
  },
};

/** Every path to a final decision ends in one report to Feishu Hire; the key makes it one job per exam. */
const queueLoginInfoReport = (tx: Tx, examId: string, now: number) =>
  enqueueJob(tx, { kind: 'report_login_info', examId, idempotencyKey: `login_info:${examId}` }, now);

const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

async function transition(
  tx: Tx,
  examId: string,
  from: ExamState,
  to: ExamState,
  columns: Record<string, string | number | null>,
  now: number,
): Promise<TransitionOutcome> {
  const names = Object.keys(columns);
  const assignments = ['state = ?', 'updated_at = ?', ...names.map((n) => `${n} = ?`)].join(', ');
  // RETURNING: the exam as it now is, in the same statement (no read after the update when it moved).
  const rows = entityRows(tx.dataSource, ExamEntity);
  const [moved] = await tx.all(
    `UPDATE exams SET ${assignments} WHERE exam_id = ? AND state = ? RETURNING ${rows.columns}`,
    [to, now, ...names.map((n) => columns[n] ?? null), examId, from],
  );
  if (moved) return { ok: true, exam: rows.from(moved) };
  const exam = await examLifecycle.find(tx, examId);
  if (!exam) return { ok: false, reason: 'not_found' };
  return { ok: false, reason: 'wrong_state', exam };
}

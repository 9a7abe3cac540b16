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
import { compareText, enqueueJob, enqueueJobs, jobKey, tenantOpen } from '../outbox/jobs.js';
import {
  type Arrangement,
  checkedOnRow,
  ExamEntity,
  type ExamResult,
  type ExamRow,
  type ExamState,
  entityRows,
  multiRowInsert,
  quotedList,
  type Tx,
} from '../store/index.js';

export type ReceiveOutcome = 'created' | 'duplicate_event' | 'duplicate_exam';

/**
 * `held`: the exam's platform sent a result before Feishu Hire has the exam's login info (still arranging); it is
 * kept, and reported once the login info is. `stale`: the result was produced before the one already recorded (a
 * platform's late retry, or a signed webhook replayed); it would overwrite a newer result. `not_this_provider`:
 * the exam was arranged by another provider instance (or by none). `ambiguous`: a platform names exams by id
 * alone, and this provider arranged exams with that id for several customers.
 */
export type ResultOutcome =
  | 'recorded'
  | 'held'
  | 'unchanged'
  | 'stale'
  | 'not_arranged'
  | 'not_this_provider'
  | 'ambiguous';

export type TransitionOutcome =
  | { readonly ok: true; readonly exam: ExamRow }
  | { readonly ok: false; readonly reason: 'not_found' }
  | { readonly ok: false; readonly reason: 'wrong_state'; readonly exam: ExamRow };

/**
 * An exam is its customer tenant and its id: exam ids are only unique inside one customer's Feishu Hire,
 * and a marketplace app serves many. A bare id names "the exam with this id" (callers that serve one
 * tenant, and the exam platforms, which only know the id).
 */
export interface ExamKey {
  readonly tenantKey: string;
  readonly examId: string;
}
/**
 * The exam whose approval card is this message (a card click names both): message ids are unique across
 * tenants, so it names one exam, and an exam whose card is another message (replaced, or not yet recorded) is
 * not it.
 */
export interface CardRef {
  readonly examId: string;
  readonly cardMessageId: string;
}
export type ExamRef = string | ExamKey | CardRef;

export const keyOf = (exam: ExamRow): ExamKey => ({ tenantKey: exam.tenantKey, examId: exam.examId });

/**
 * The SQL condition naming one exam, and its parameters. A condition added to it on an indexed column (the
 * state) goes through checkedOnRow: an exam named by its id alone or by its card was found through
 * idx_exams_state instead, every exam in that state read for one: a click's decision cost 107 µs with 2,000 exams
 * pending and 1.13 ms with 20,000, against 15–19 µs by the key (bench/click-backlog.mjs; BENCHMARKS.md, session 19).
 */
const which = (ref: ExamRef): [string, string[]] =>
  typeof ref === 'string'
    ? ['exam_id = ?', [ref]]
    : 'cardMessageId' in ref
      ? ['exam_id = ? AND card_message_id = ?', [ref.examId, ref.cardMessageId]]
      : ['tenant_key = ? AND exam_id = ?', [ref.tenantKey, ref.examId]];

/** receiveMany's INSERT of new exams, for a number of rows. */
const insertExams = multiRowInsert(
  `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, account_id, paper_id, talent_id, application_id,
     candidate, state, received_at, updated_at, card_due_at)`,
  "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending_approval', ?, ?, ?)",
  'ON CONFLICT DO NOTHING RETURNING tenant_key, exam_id',
);

/** The global order in which exams are written (receiveMany); any order works, if every writer keeps it. */
const compareExamKeys = (a: ExamKey, b: ExamKey): number =>
  compareText(a.tenantKey, b.tenantKey) || compareText(a.examId, b.examId);

/**
 * How long Feishu waits for a card callback's answer (3 s; later it shows the user error 200341 and drops the
 * answer): a card refreshed after this, counted from the decision, cannot be overwritten by that click's answer.
 */
export const CARD_ANSWER_WINDOW_MS = 3000;

/**
 * How long after posting a card is still patched: Feishu patches a message only within 14 days of sending it
 * (im.v1.message.patch, 使用限制: 仅支持更新 14 天内发送的消息). An hour short of that, so that a patch sent
 * near the limit (a job's retries, a clock a little ahead of Feishu's) is not refused; a card older than this
 * is replaced by a new one (refresh_card).
 */
export const CARD_PATCH_WINDOW_MS = 14 * 24 * 3_600_000 - 3_600_000;

/** Whether the exam's card may still be patched at `now` (cardPostedAt, or the exam's arrival before it). */
export const cardPatchable = (exam: ExamRow, now: number): boolean =>
  now - (exam.cardPostedAt ?? exam.receivedAt) < CARD_PATCH_WINDOW_MS;

/**
 * How much of a provider's refusal an exam keeps (its failure reason). The failed card shows it in each of its
 * languages, and Feishu refuses a card over 30 KB (im.v1.message.create and patch: 卡片消息请求体最大不能超过
 * 30 KB): a platform's 4,000-character message made the card's patch refused for good, and the card stayed
 * "arranging". The staff's reject reason is cut to 500 at the click (bot/card-actions.ts).
 */
export const FAILURE_REASON_MAX = 2000;

/** How many exams an erasure transaction takes at most (the round then takes the next batch). */
export const ERASE_BATCH = 500;

/** The final states: nothing moves an exam out of them. */
export const FINAL_STATES: readonly ExamState[] = ['arranged', 'rejected', 'failed'];

export const examLifecycle = {
  async find(tx: Tx, ref: ExamRef): Promise<ExamRow | null> {
    const [where, params] = which(ref);
    const rows = entityRows(tx.dataSource, ExamEntity);
    const [row] = await tx.all(`${rows.select} WHERE ${where} LIMIT 1`, params);
    return row ? rows.from(row) : null;
  },

  /**
   * `hire.eco_exam.created_v1` pushes arrived. For each: creates the exam in pending_approval with its approval
   * card queued on the row (card_due_at: outbox/card-queue.ts, where an outbox_jobs row per arrival cost four
   * B-tree inserts more on the acknowledgement's path); a re-push of the event, or a second event for the same
   * exam, is a no-op. A whole batch costs one statement, however many events it holds (two when some of its
   * exams were stored before).
   *
   * The exam row is the event's record: it keeps the id of the event that created it, so a re-push is told
   * apart from a second event for the same exam without a row in processed_events. Feishu's event ids are
   * random, so that table's key put every arrival on a page of its own (a random leaf of its index, written to
   * the log at each commit), while an exam's key is Feishu's exam id, a time-ordered snowflake, and arrivals
   * share the index's last page: 0.76 pages of log per arrival instead of 1.99, and, measured against the
   * build before in the same rounds, 48 µs less per push and 25 % more pushes per second at 32 connections
   * (BENCHMARKS.md, session 8). Exam arrivals are listed at /admin/exams; /admin/events keeps
   * the other events, and the exam pushes refused as broken (recordRejectedEvent).
   */
  async receiveMany(
    tx: Tx,
    events: readonly KnownEvent<'hire.eco_exam.created_v1'>[],
    now: number,
  ): Promise<ReceiveOutcome[]> {
    if (events.length === 0) return [];
    const pair = (tenant: string, id: string) => `${tenant}\u0000${id}`;
    /**
     * The first event of this batch for each exam: the one that creates it, unless it was stored before. Exams
     * stored before are not looked up first: the insert below skips them, and only those are read (a re-push
     * is the rare case; a look-up of every batch cost a statement per commit on the acknowledgement's path).
     */
    const first = new Map<string, { eventId: string; index: number }>();
    const writes: { key: ExamKey; values: unknown[] }[] = [];
    for (const [index, event] of events.entries()) {
      const p: EcoExamCreatedPayload = event.payload;
      const examPair = pair(event.tenantKey ?? '', p.exam_id);
      if (first.has(examPair)) continue;
      first.set(examPair, { eventId: event.id, index });
      writes.push({
        key: { tenantKey: event.tenantKey ?? '', examId: p.exam_id },
        values: [
          p.exam_id,
          event.tenantKey ?? '',
          event.appId ?? '',
          event.id,
          // An empty id is Feishu's "none" (event-core's catalog lets it through): stored as no id.
          p.account_id || null,
          p.paper_id || null,
          p.talent_id || null,
          p.application_id || null,
          JSON.stringify({
            name: p.candidate_info?.name,
            mobileCode: p.candidate_info?.mobile?.code,
            mobileNumber: p.candidate_info?.mobile?.number,
            email: p.candidate_info?.email,
          }),
          now,
          now,
          // Its card is queued on the row (outbox/card-queue.ts), due now.
          now,
        ],
      });
    }
    // Written in key order, not the batch's (which event creates an exam is settled above, in arrival order):
    // on PostgreSQL a row whose key another transaction has just written waits for that one to end, so two
    // replicas writing the same exams in opposite orders (a re-push in flight twice, one exam in two batches)
    // each waited for the other, and one batch was aborted as a deadlock (40P01). In one global order the
    // second waits for the first, then finds those exams taken.
    writes.sort((a, b) => compareExamKeys(a.key, b.key));
    // ON CONFLICT DO NOTHING ... RETURNING: the exams stored before (on PostgreSQL perhaps by another
    // transaction, a replica or a concurrent push of the same event, since committed: the insert waited for
    // it) are not ours.
    const inserted = await tx.all<{ tenant_key: string; exam_id: string }>(
      insertExams(writes.length),
      writes.flatMap((w) => w.values),
    );
    /** The exams the insert skipped: the event that had created each. */
    const storedBy = new Map<string, string>();
    if (inserted.length < writes.length) {
      const created = new Set(inserted.map((r) => pair(r.tenant_key, r.exam_id)));
      const lost = new Set(
        writes.map((w) => pair(w.key.tenantKey, w.key.examId)).filter((examPair) => !created.has(examPair)),
      );
      const stored = await tx.all<{ exam_id: string; tenant_key: string; event_id: string }>(
        `SELECT exam_id, tenant_key, event_id FROM exams WHERE exam_id IN (${marks(lost.size)})`,
        writes.flatMap((w) => (lost.has(pair(w.key.tenantKey, w.key.examId)) ? [w.key.examId] : [])),
      );
      // An exam the insert skipped is someone else's even if it could not be read back.
      for (const examPair of lost) storedBy.set(examPair, '');
      for (const row of stored) {
        const examPair = pair(row.tenant_key, row.exam_id);
        if (lost.has(examPair)) storedBy.set(examPair, row.event_id);
      }
    }
    // Each event: the one that created its exam, a re-push of that event, or a second event for the exam.
    const outcomes = events.map((event, index): ReceiveOutcome => {
      const examPair = pair(event.tenantKey ?? '', event.payload.exam_id);
      const creator = first.get(examPair) as { eventId: string; index: number };
      if (!storedBy.has(examPair) && creator.index === index) return 'created';
      return (storedBy.get(examPair) ?? creator.eventId) === event.id ? 'duplicate_event' : 'duplicate_exam';
    });
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

  async cardPosted(tx: Tx, ref: ExamRef, messageId: string, now: number): Promise<void> {
    const [where, params] = which(ref);
    await tx.run(
      `UPDATE exams SET card_message_id = ?, card_posted_at = ?, updated_at = ?
       WHERE ${where} AND card_message_id IS NULL`,
      [messageId, now, now, ...params],
    );
  },

  /**
   * The exam's card was too old to patch and a new one was posted in its place: from now on the new card is
   * the exam's (a click on the old one is refused as not this exam's card). Only if the card is still the one
   * that was replaced: a concurrent replacement (another replica) keeps its own.
   */
  async cardReplaced(
    tx: Tx,
    ref: ExamRef,
    replacedMessageId: string,
    messageId: string,
    now: number,
  ): Promise<void> {
    const [where, params] = which(ref);
    await tx.run(
      `UPDATE exams SET card_message_id = ?, card_posted_at = ?, updated_at = ?
       WHERE ${where} AND card_message_id = ?`,
      [messageId, now, now, ...params, replacedMessageId],
    );
  },

  /** Staff approved: the exam is arranged on the platform next. */
  async approve(tx: Tx, ref: ExamRef, operator: string, now: number): Promise<TransitionOutcome> {
    const outcome = await transition(
      tx,
      ref,
      'pending_approval',
      'arranging',
      { decided_by: operator, decided_at: now },
      now,
    );
    if (outcome.ok)
      await enqueueJob(
        tx,
        {
          kind: 'arrange',
          examId: outcome.exam.examId,
          tenantKey: outcome.exam.tenantKey,
          idempotencyKey: jobKey('arrange', keyOf(outcome.exam)),
        },
        now,
      );
    return outcome;
  },

  /**
   * The click that decided the exam could not show the decision on its card (an old-style card callback, whose
   * answer cannot carry a JSON 2.0 card; bot/card-actions.ts): the outbox patches the card now.
   */
  async decisionNotShown(tx: Tx, key: ExamKey, now: number): Promise<void> {
    await enqueueJob(
      tx,
      {
        kind: 'refresh_card',
        examId: key.examId,
        tenantKey: key.tenantKey,
        idempotencyKey: `${jobKey('refresh_card', key)}:decided`,
      },
      now,
    );
  },

  /** Staff rejected: Feishu Hire is told the arrangement failed, with the reason. */
  async reject(
    tx: Tx,
    ref: ExamRef,
    operator: string,
    reason: string,
    now: number,
  ): Promise<TransitionOutcome> {
    const outcome = await transition(
      tx,
      ref,
      'pending_approval',
      'rejected',
      { decided_by: operator, decided_at: now, reject_reason: reason },
      now,
    );
    if (outcome.ok) await queueLoginInfoReport(tx, outcome.exam, now);
    return outcome;
  },

  /**
   * The platform arranged the exam: keep the arrangement and which provider instance made it (only that one
   * may report the result), then report it to Feishu Hire.
   */
  async arrangementMade(
    tx: Tx,
    ref: ExamRef,
    providerId: string,
    arrangement: Arrangement,
    now: number,
  ): Promise<void> {
    const [where, params] = which(ref);
    const rows = entityRows(tx.dataSource, ExamEntity);
    // RETURNING: the exam as it now is, without a read after the update (the usual case).
    const [updated] = await tx.all(
      `UPDATE exams SET arrangement = ?, provider_id = ?, updated_at = ?
       WHERE ${where} AND ${checkedOnRow("state = 'arranging'")} RETURNING ${rows.columns}`,
      [JSON.stringify(arrangement), providerId, now, ...params],
    );
    // No longer arranging (it failed meanwhile, or was reported): its report is queued already, and the
    // enqueue below is then a no-op by its key, as it always was.
    const exam = updated ? rows.from(updated) : await examLifecycle.find(tx, ref);
    if (exam) await queueLoginInfoReport(tx, exam, now);
  },

  /** The platform refused for good: the exam failed, and Feishu Hire is told so. */
  async arrangementFailed(tx: Tx, ref: ExamRef, reason: string, now: number): Promise<TransitionOutcome> {
    const outcome = await transition(
      tx,
      ref,
      'arranging',
      'failed',
      { failure_reason: reason.slice(0, FAILURE_REASON_MAX) },
      now,
    );
    if (outcome.ok) await queueLoginInfoReport(tx, outcome.exam, now);
    return outcome;
  },

  /**
   * A provider reported a result. Only an arranged exam (Feishu Hire has its login info) can have one, and
   * only from the provider instance that arranged it: a platform cannot write results for another's exams.
   * A changed result is reported again (Feishu overwrites until the customer has graded), the same is not.
   */
  async resultReceived(
    tx: Tx,
    ref: ExamRef,
    providerId: string,
    result: ExamResult,
    now: number,
  ): Promise<ResultOutcome> {
    // A bare id from a platform: among the customers with an exam of that id, the one this provider arranged.
    const candidates = await lockedForChange(tx, ref);
    const mine = candidates.filter((e) => e.providerId === providerId);
    if (mine.length > 1) return 'ambiguous';
    const exam = mine[0] ?? candidates[0];
    // Arranging with an arrangement: the platform has the exam, Feishu Hire not yet its login info (its report
    // is queued). Without one, nothing says which platform the exam went to.
    const held = exam?.state === 'arranging' && exam.arrangement !== null;
    if (!exam || (exam.state !== 'arranged' && !held)) return 'not_arranged';
    if (exam.providerId !== providerId) return 'not_this_provider';
    const serialized = JSON.stringify(result);
    if (exam.result && JSON.stringify(exam.result) === serialized) return 'unchanged';
    const recordedAt = exam.result?.resultTime;
    if (recordedAt !== undefined && result.resultTime !== undefined && result.resultTime < recordedAt)
      return 'stale';
    const key = keyOf(exam);
    // Conditional on the state read above (the row is locked on PostgreSQL, so this only guards a store that
    // read it without a lock): a login info report committed meanwhile (another replica) would otherwise
    // leave a held result that nothing reports.
    const changed = await tx.run(
      'UPDATE exams SET result = ?, updated_at = ? WHERE tenant_key = ? AND exam_id = ? AND state = ?',
      [serialized, now, key.tenantKey, key.examId, exam.state],
    );
    if (changed === 0) return 'not_arranged';
    // Reported by loginInfoReported, once Feishu Hire has the exam (it refuses a result before).
    if (held) return 'held';
    // The change, not the value, names the report: a result changed back (A → B → A) must be reported
    // again, and keys stay taken after their jobs ran. Two writers racing to make the same change (they read
    // the same row) still share one key.
    const version = createHash('sha256')
      .update(`${exam.updatedAt}\n${JSON.stringify(exam.result)}\n${serialized}`)
      .digest('hex')
      .slice(0, 16);
    await enqueueJob(
      tx,
      {
        kind: 'report_result',
        examId: key.examId,
        tenantKey: key.tenantKey,
        idempotencyKey: `${jobKey('report_result', key)}:${version}`,
      },
      now,
    );
    await enqueueJob(
      tx,
      {
        kind: 'refresh_card',
        examId: key.examId,
        tenantKey: key.tenantKey,
        idempotencyKey: `${jobKey('refresh_card', key)}:result:${version}`,
      },
      now,
    );
    return 'recorded';
  },

  /**
   * The polling round: one poll job for every arranged exam still without a result whose provider is one of
   * `providerIds` (those that can be asked for results: a poll job for another's exam has nothing to ask), and
   * whose arrangement was reported at `reportedSince` or later (an arranged exam records when; one without that
   * record counts from its last change).
   */
  async queueResultPolls(
    tx: Tx,
    round: string,
    now: number,
    providerIds: readonly string[],
    reportedSince = 0,
  ): Promise<number> {
    if (providerIds.length === 0) return 0;
    // In key order: replicas whose timers fire in the same interval queue the same keys, one statement each,
    // and a scan's order is not promised; in two different orders they could deadlock (see enqueueJobs).
    const exams = await tx.all<{ exam_id: string; tenant_key: string }>(
      // The first three conditions are idx_exams_awaiting_result's (migration 0013), written as it has them.
      // A stopped or uninstalled customer's exams are left out: their polls would wait for it, a job each round.
      `SELECT exam_id, tenant_key FROM exams
       WHERE state = 'arranged' AND result IS NULL AND COALESCE(login_info_reported_at, updated_at) >= ?
         AND provider_id IN (${marks(providerIds.length)}) AND ${tenantOpen('exams.tenant_key')}
       ORDER BY tenant_key, exam_id`,
      [reportedSince, ...providerIds],
    );
    for (const { exam_id, tenant_key } of exams) {
      await enqueueJob(
        tx,
        {
          kind: 'poll_result',
          examId: exam_id,
          tenantKey: tenant_key,
          idempotencyKey: `${jobKey('poll_result', { tenantKey: tenant_key, examId: exam_id })}:${round}`,
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
   * exams were erased, at most `limit`: the upkeep (server.ts) calls again, a transaction each, until fewer come.
   */
  async erasePersonalData(tx: Tx, endedBefore: number, now: number, limit = ERASE_BATCH): Promise<number> {
    const ended = await tx.all<{
      tenant_key: string;
      exam_id: string;
      candidate: string;
      arrangement: string | null;
    }>(
      // idx_exams_unerased's conditions (migration 0013), written as it has them. An exam changes only after it
      // arrives: `received_at < ?` follows from `updated_at < ?` and bounds the walk of that index (by arrival).
      `SELECT tenant_key, exam_id, candidate, arrangement FROM exams
       WHERE state IN (${quotedList(FINAL_STATES)}) AND personal_data_erased_at IS NULL
         AND received_at < ? AND updated_at < ?
       LIMIT ?`,
      [endedBefore, endedBefore, limit],
    );
    for (const row of ended) {
      const { name } = JSON.parse(row.candidate) as { name?: string };
      const arrangement = row.arrangement
        ? { ...(JSON.parse(row.arrangement) as Arrangement), password: undefined }
        : null;
      await tx.run(
        'UPDATE exams SET candidate = ?, arrangement = ?, personal_data_erased_at = ? WHERE tenant_key = ? AND exam_id = ?',
        [
          JSON.stringify({ name }),
          arrangement && JSON.stringify(arrangement),
          now,
          row.tenant_key,
          row.exam_id,
        ],
      );
    }
    return ended.length;
  },

  async resultReported(tx: Tx, ref: ExamRef, now: number): Promise<void> {
    const [where, params] = which(ref);
    await tx.run(`UPDATE exams SET result_reported_at = ?, updated_at = ? WHERE ${where}`, [
      now,
      now,
      ...params,
    ]);
  },

  /** Feishu Hire has the arrangement (or the failure): an arranging exam is now arranged; refresh the card. */
  async loginInfoReported(tx: Tx, ref: ExamRef, now: number): Promise<void> {
    const [where, params] = which(ref);
    const rows = entityRows(tx.dataSource, ExamEntity);
    // One statement: the report is recorded in any state (a rejected or failed exam's too), and an arranging
    // exam moves to arranged with it; RETURNING gives the exam as it now is.
    const [reported] = await tx.all(
      `UPDATE exams SET login_info_reported_at = ?, updated_at = ?,
         state = CASE WHEN state = 'arranging' THEN 'arranged' ELSE state END
       WHERE ${where} RETURNING ${rows.columns}`,
      [now, now, ...params],
    );
    if (!reported) return;
    const exam = rows.from(reported);
    const key = keyOf(exam);
    // Not before the staff click's own answer can still land: that answer replaces the whole card, drawn as the
    // exam stood then ("arranging"), and Feishu applies it whenever it comes within its 3 s, so a refresh made
    // sooner (a fast platform) was overwritten by the older card and the card stayed "arranging" for good.
    const refresh = {
      kind: 'refresh_card',
      idempotencyKey: `${jobKey('refresh_card', key)}:final`,
      runAt: Math.max(now, (exam.decidedAt ?? 0) + CARD_ANSWER_WINDOW_MS),
    } as const;
    // A result the platform sent while the exam was arranging (resultReceived: held) goes to Feishu Hire now.
    const held = { kind: 'report_result', idempotencyKey: `${jobKey('report_result', key)}:held` } as const;
    const follow = exam.state === 'arranged' && exam.result ? [held, refresh] : [refresh];
    await enqueueJobs(
      tx,
      follow.map((job) => ({ ...job, examId: key.examId, tenantKey: key.tenantKey })),
      now,
    );
  },
};

/** Every path to a final decision ends in one report to Feishu Hire; the key makes it one job per exam. */
const queueLoginInfoReport = (tx: Tx, exam: ExamRow, now: number) =>
  enqueueJob(
    tx,
    {
      kind: 'report_login_info',
      examId: exam.examId,
      tenantKey: exam.tenantKey,
      idempotencyKey: jobKey('login_info', keyOf(exam)),
    },
    now,
  );

const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/**
 * The exams `ref` names, read for a change that depends on what they hold (a result compared with the one
 * recorded). On PostgreSQL the rows are locked (FOR UPDATE) until the transaction ends: under READ COMMITTED
 * a plain read let two replicas decide on the same old row, and the second write overwrote a newer result with
 * an older one. SQLite needs no lock: a transaction holds the whole file's from BEGIN IMMEDIATE.
 */
async function lockedForChange(tx: Tx, ref: ExamRef): Promise<ExamRow[]> {
  const [where, params] = which(ref);
  const rows = entityRows(tx.dataSource, ExamEntity);
  const lock = tx.dataSource.options.type === 'postgres' ? ' FOR UPDATE' : '';
  const raw = await tx.all(`${rows.select} WHERE ${where}${lock}`, params);
  return raw.map((r) => rows.from(r));
}

async function transition(
  tx: Tx,
  ref: ExamRef,
  from: ExamState,
  to: ExamState,
  columns: Record<string, string | number | null>,
  now: number,
): Promise<TransitionOutcome> {
  const names = Object.keys(columns);
  const assignments = ['state = ?', 'updated_at = ?', ...names.map((n) => `${n} = ?`)].join(', ');
  const [where, params] = which(ref);
  // RETURNING: the exam as it now is, in the same statement (no read after the update when it moved).
  const rows = entityRows(tx.dataSource, ExamEntity);
  for (let attempt = 1; ; attempt++) {
    const [moved] = await tx.all(
      `UPDATE exams SET ${assignments} WHERE ${where} AND ${checkedOnRow('state = ?')} RETURNING ${rows.columns}`,
      [to, now, ...names.map((n) => columns[n] ?? null), ...params, from],
    );
    if (moved) return { ok: true, exam: rows.from(moved) };
    const exam = await examLifecycle.find(tx, ref);
    if (!exam) return { ok: false, reason: 'not_found' };
    // On PostgreSQL each statement reads its own snapshot: an exam that came to match `ref` after the UPDATE
    // looked (its card recorded meanwhile, by another transaction: a CardRef) is found here still in `from`.
    // It has not moved, so the UPDATE is tried once more; it was never in another state.
    if (exam.state !== from || attempt > 1) return { ok: false, reason: 'wrong_state', exam };
  }
}

// The first approval card of each exam, queued on the exam row itself: an arrival writes the exam and nothing
// else (card_due_at, set by examLifecycle.receiveMany), and the outbox worker takes the card from there as it
// takes a job. Only a card whose first attempt does not post it (a retry, a deferral for the staff chat's
// pace, a refusal) becomes a post_card row in outbox_jobs, under the same id, and is retried there like any
// job: backoff, dead-job notice, an operator's retry.
//
// Why: an outbox_jobs row per arrival was four B-tree inserts (the row, its id's and idempotency key's unique
// indexes, idx_outbox_due) in the transaction that acknowledges the push, and as many more pages for its sync
// to write; the card queued on the exam row is one small append (idx_exams_card_queue). Measured against the
// build with the job row, in the same rounds at 32 connections: 1.15× the pushes a second at 0.84× the CPU per
// push on SQLite, 1.14× at 0.85× on PostgreSQL (BENCHMARKS.md, session 25).
//
// These columns are the card's delivery, not the exam's state: that changes in workflow/exam-lifecycle.ts
// alone (cardPosted records the card once it is posted).
import { createHash } from 'node:crypto';
import { ExamEntity, type ExamRow, entityRows, type JobState, type SqlTx, type Tx } from '../store/index.js';
import { type ClaimedJob, compareText, jobKey, NO_ATTEMPT_LIMIT, type RunningIds } from './jobs.js';

/** A queued card's job: what the worker runs, with the exam it was claimed from. */
export interface QueuedCard extends ClaimedJob {
  readonly exam: ExamRow;
  readonly onExamRow: true;
}

/** The job's claim came from the exam row's card queue, not from outbox_jobs. */
export const isQueuedCard = (job: object): job is QueuedCard =>
  (job as Partial<QueuedCard>).onExamRow === true;

/**
 * The id an exam's queued card runs under, and keeps as a post_card row if it is handed over: one per exam, the
 * same on every claim (the staff chat's pace keeps a slot per job id; a worker leaves its own cards in flight out
 * of its next claim by id). A UUID (version 8, RFC 9562 §5.8) from a SHA-256 of the exam's key.
 */
export function queuedCardJobId(tenantKey: string, examId: string): string {
  const hex = createHash('sha256').update(`post_card\u0000${tenantKey}\u0000${examId}`).digest('hex');
  const variant = ((Number.parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** `(tenant_key, exam_id) IN (VALUES …)` for these exams, and its values: a row value, on both dialects. */
function theseExams(
  cards: readonly { tenantKey: string | null; examId: string | null }[],
): [string, string[]] {
  return [
    `(tenant_key, exam_id) IN (VALUES ${cards.map(() => '(?, ?)').join(', ')})`,
    cards.flatMap((c) => [c.tenantKey ?? '', c.examId ?? '']),
  ];
}

/** When the oldest queued card due at `?` (now) came due: a sub-query, for claimDueJobs' one look at both queues. */
export const OLDEST_DUE_CARD =
  'SELECT card_due_at FROM exams WHERE card_due_at <= ? ORDER BY card_due_at LIMIT 1';

/**
 * Claims up to `limit` queued cards due at `now` (never taken, or their worker's lease ran out), the oldest
 * first, for `workerId`: each is due again when its lease ends (`now + leaseMs`). `running`: the ids of the jobs
 * this worker runs now, left out (their leases may look expired to it; see claimDueJobs). The claiming UPDATE
 * repeats the due condition, so a card another replica claimed meanwhile is not taken twice (on PostgreSQL the
 * row's new version is checked against it again). Each comes with its exam as the claim left it.
 */
export async function claimDueCards(
  tx: Tx,
  workerId: string,
  limit: number,
  leaseMs: number,
  now: number,
  running: RunningIds,
): Promise<QueuedCard[]> {
  if (limit <= 0) return [];
  const due = await tx.all<{ tenant_key: string; exam_id: string }>(
    'SELECT tenant_key, exam_id FROM exams WHERE card_due_at <= ? ORDER BY card_due_at LIMIT ?',
    [now, limit + running.size],
  );
  const picked = due
    .map((d) => ({ tenantKey: d.tenant_key, examId: d.exam_id }))
    .filter((c) => !running.has(queuedCardJobId(c.tenantKey, c.examId)))
    .slice(0, limit);
  if (picked.length === 0) return [];
  // Named in key order: on PostgreSQL two replicas claiming the same cards lock their rows in one order (the
  // second waits for the first, then finds them taken) rather than each waiting for the other (40P01).
  picked.sort((a, b) => compareText(a.tenantKey, b.tenantKey) || compareText(a.examId, b.examId));
  const rows = entityRows(tx.dataSource, ExamEntity);
  const [where, values] = theseExams(picked);
  const raw = await tx.all(
    `UPDATE exams SET card_due_at = ?, card_locked_by = ?
     WHERE ${where} AND card_due_at <= ?
     RETURNING ${rows.columns}`,
    [now + leaseMs, workerId, ...values, now],
  );
  return raw.map((r) => {
    const exam = rows.from(r);
    return {
      id: queuedCardJobId(exam.tenantKey, exam.examId),
      kind: 'post_card',
      examId: exam.examId,
      tenantKey: exam.tenantKey,
      payload: {},
      idempotencyKey: jobKey('post_card', exam),
      state: 'running',
      attempts: 1,
      maxAttempts: NO_ATTEMPT_LIMIT,
      runAt: exam.receivedAt,
      lockedUntil: now + leaseMs,
      lockedBy: workerId,
      lastError: null,
      createdAt: exam.receivedAt,
      updatedAt: now,
      exam,
      onExamRow: true,
    } satisfies QueuedCard;
  });
}

/** Condition: the card is still queued and still this worker's (its values: the exam's key, the worker). */
const STILL_MINE = 'card_due_at IS NOT NULL AND card_locked_by = ?';

/**
 * The cards were posted: they leave the queue, each only if still this worker's (as completeJobs). Returns the
 * job ids of those that were.
 */
export async function completeCards(
  tx: Tx,
  cards: readonly QueuedCard[],
  workerId: string,
): Promise<Set<string>> {
  if (cards.length === 0) return new Set();
  const [where, values] = theseExams(cards);
  const done = await tx.all<{ tenant_key: string; exam_id: string }>(
    `UPDATE exams SET card_due_at = NULL, card_locked_by = NULL
     WHERE ${where} AND ${STILL_MINE}
     RETURNING tenant_key, exam_id`,
    [...values, workerId],
  );
  return new Set(done.map((d) => queuedCardJobId(d.tenant_key, d.exam_id)));
}

/** What a queued card becomes in outbox_jobs when its first attempt did not post it. */
export interface HandedOver {
  readonly state: JobState;
  readonly runAt: number;
  readonly attempts: number;
  readonly lastError: string | null;
}

/**
 * The card's first attempt did not post it (deferred, failed, refused): it leaves the exam row's queue and goes
 * on as a post_card job under the same id, in `to`'s state, where the worker's retries, the dead-job notice
 * and the operators' views take it. Only while the card is still this worker's; returns 1 if it was, else 0
 * (another worker took it after this one's lease ran out: nothing is written).
 */
export async function handOverCard(
  tx: Tx,
  card: QueuedCard,
  workerId: string,
  to: HandedOver,
  now: number,
): Promise<number> {
  const [where, values] = theseExams([card]);
  const released = await tx.run(
    `UPDATE exams SET card_due_at = NULL, card_locked_by = NULL WHERE ${where} AND ${STILL_MINE}`,
    [...values, workerId],
  );
  if (released === 0) return 0;
  // A row already holding the key (none is written while the card is queued on the exam) carries the card.
  await tx.run(
    `INSERT INTO outbox_jobs (id, kind, exam_id, payload, tenant_key, idempotency_key, state, attempts,
       max_attempts, run_at, locked_until, locked_by, last_error, created_at, updated_at)
     VALUES (?, 'post_card', ?, '{}', ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?) ON CONFLICT DO NOTHING`,
    [
      card.id,
      card.examId,
      card.tenantKey,
      card.idempotencyKey,
      to.state,
      to.attempts,
      card.maxAttempts,
      to.runAt,
      to.lastError === null ? null : to.lastError.slice(0, 2000),
      card.createdAt,
      now,
    ],
  );
  return 1;
}

/** A running card's heartbeat (as renewLease): its lease pushed forward while it is still this worker's. */
export async function renewCardLease(
  tx: Tx,
  card: QueuedCard,
  workerId: string,
  leaseMs: number,
  now: number,
): Promise<boolean> {
  const [where, values] = theseExams([card]);
  const changed = await tx.run(`UPDATE exams SET card_due_at = ? WHERE ${where} AND ${STILL_MINE}`, [
    now + leaseMs,
    ...values,
    workerId,
  ]);
  return changed > 0;
}

/** A shutdown gives these running cards back (as releaseLeases): due at once for another worker. */
export async function releaseCardLeases(
  tx: Tx,
  cards: readonly QueuedCard[],
  workerId: string,
  now: number,
): Promise<number> {
  if (cards.length === 0) return 0;
  const [where, values] = theseExams(cards);
  return tx.run(`UPDATE exams SET card_due_at = ? WHERE ${where} AND ${STILL_MINE}`, [
    now - 1,
    ...values,
    workerId,
  ]);
}

/** A queued card due before some time and not taken since: stuck, as an overdue job is. */
export interface OverdueCard {
  readonly id: string;
  readonly tenantKey: string;
  readonly examId: string;
  /** When it came due: the exam's arrival, or the end of the lease of a worker that took it and died. */
  readonly dueAt: number;
  /** The worker whose lease ran out, or null if none ever took it. */
  readonly lockedBy: string | null;
  readonly receivedAt: number;
}

/** Up to `limit` queued cards due before `before`, the oldest first (the console's jobs needing attention). */
export async function overdueCardList(tx: SqlTx, before: number, limit: number): Promise<OverdueCard[]> {
  const rows = await tx.all<{
    tenant_key: string;
    exam_id: string;
    card_due_at: number | string;
    card_locked_by: string | null;
    received_at: number | string;
  }>(
    `SELECT tenant_key, exam_id, card_due_at, card_locked_by, received_at FROM exams
     WHERE card_due_at < ? ORDER BY card_due_at LIMIT ?`,
    [before, limit],
  );
  return rows.map((r) => ({
    id: queuedCardJobId(r.tenant_key, r.exam_id),
    tenantKey: r.tenant_key,
    examId: r.exam_id,
    dueAt: Number(r.card_due_at),
    lockedBy: r.card_locked_by,
    receivedAt: Number(r.received_at),
  }));
}

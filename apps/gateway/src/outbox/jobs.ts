import { randomUUID } from 'node:crypto';
import {
  checkedOnRow,
  ExamEntity,
  type ExamRow,
  entityRows,
  JobEntity,
  type JobRow,
  type JobState,
  multiRowInsert,
  quotedList,
  type SqlTx,
  type Tx,
} from '../store/index.js';
import {
  claimDueCards,
  completeCards,
  type HandedOver,
  handOverCard,
  isQueuedCard,
  OLDEST_DUE_CARD,
  type QueuedCard,
  releaseCardLeases,
  renewCardLease,
} from './card-queue.js';

export type JobKind =
  | 'post_card'
  | 'arrange'
  | 'report_login_info'
  | 'refresh_card'
  | 'notify_dead'
  | 'sync_papers'
  | 'report_result'
  | 'register_custom_fields'
  | 'poll_result'
  | 'fetch_tenant_name';

export interface NewJob {
  readonly kind: JobKind;
  readonly examId?: string | undefined;
  readonly payload?: Record<string, unknown>;
  /**
   * The customer tenant the job is for (with `examId`, it names the exam). The job is not attempted while
   * that tenant has stopped or uninstalled the app; it waits, and runs when the tenant starts again. Staff
   * chat jobs (STAFF_JOBS) run regardless: staff must still see the exam.
   */
  readonly tenantKey?: string | undefined;
  /** Enqueueing the same key twice creates one job: the second enqueue is a no-op. */
  readonly idempotencyKey: string;
  readonly runAt?: number;
  /**
   * For jobs that may be given up: after this many transient failures the job is `skipped` (no notice), and
   * at a permanent one too. A poll round is one: the next round polls again (a platform answering 404 while
   * it has no result buried a poll a round, each with a stuck-job card in the staff chat: up to 144 a day per
   * exam). Without it a job is retried until it succeeds or fails permanently.
   */
  readonly maxAttempts?: number;
}

/** `max_attempts` of a job that is retried for as long as its failures are transient. */
export const NO_ATTEMPT_LIMIT = 0;

/** Jobs that post or update cards in the staff chat: they never wait for a customer tenant. */
export const STAFF_JOBS: readonly JobKind[] = ['post_card', 'refresh_card', 'notify_dead'];

/** A job's idempotency key for one exam and step: qualified by its tenant. */
export const jobKey = (step: string, exam: { readonly tenantKey: string; readonly examId: string }) =>
  `${step}:${exam.tenantKey}:${exam.examId}`;

/** Adds a job in the caller's transaction, so it commits (or not) with the state change that caused it. */
export async function enqueueJob(tx: SqlTx, job: NewJob, now: number): Promise<boolean> {
  return (await enqueueJobs(tx, [job], now)) > 0;
}

/**
 * Adds many jobs in one statement; returns how many were new. The rows are written in idempotency key order,
 * whatever order the caller's are in: on PostgreSQL a row whose key another transaction has just written
 * waits for that one to end, so two replicas enqueueing the same keys in opposite orders (A then B, B then A)
 * each waited for the other, and one was aborted as a deadlock (40P01). Written in one global order, the
 * second waits for the first and then finds its keys taken.
 */
export async function enqueueJobs(tx: SqlTx, jobs: readonly NewJob[], now: number): Promise<number> {
  if (jobs.length === 0) return 0;
  const rows = [...jobs]
    .sort(byIdempotencyKey)
    .map((job) => [
      timeOrderedId(now),
      job.kind,
      job.examId ?? null,
      JSON.stringify(job.payload ?? {}),
      job.tenantKey ?? null,
      job.idempotencyKey,
      job.maxAttempts ?? NO_ATTEMPT_LIMIT,
      job.runAt ?? now,
      now,
      now,
    ]);
  return tx.run(insertJobs(rows.length), rows.flat());
}

/** enqueueJobs' INSERT, for a number of rows. */
const insertJobs = multiRowInsert(
  `INSERT INTO outbox_jobs (id, kind, exam_id, payload, tenant_key, idempotency_key, state, attempts, max_attempts,
     run_at, locked_until, locked_by, last_error, created_at, updated_at)`,
  "(?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, NULL, NULL, NULL, ?, ?)",
  'ON CONFLICT DO NOTHING',
);

/** Strings in code-unit order, as a sort's comparator (the global orders rows are written in). */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The global order in which jobs are written (enqueueJobs); any order works, if every writer keeps it. */
const byIdempotencyKey = (a: NewJob, b: NewJob) => compareText(a.idempotencyKey, b.idempotencyKey);

/**
 * A UUIDv7 (RFC 9562 §5.7): 48 bits of milliseconds, then random bits. A random UUIDv4 as the primary key
 * would put each new job on a different page of the index (a batch of 32 arrivals dirtied ~56 pages per
 * commit; with these, ~33); time-ordered ids append.
 */
export function timeOrderedId(now: number): string {
  // The random bits from randomUUID, which draws them from a pool it refills in bulk: a randomBytes(16) per
  // id cost each exam's arrival ~9 µs (a system call, most of it; BENCHMARKS.md).
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx, V the RFC 9562 variant
  const ms = (Math.max(0, Math.floor(now)) % 2 ** 48).toString(16).padStart(12, '0');
  return `${ms.slice(0, 8)}-${ms.slice(8)}-7${random.slice(15, 18)}-${random.slice(19)}`;
}

/**
 * Claims up to `limit` due jobs for `workerId`: pending ones whose time has come, and running ones whose
 * lease expired (their worker died). A job for a tenant that stopped or uninstalled the app is left alone (no
 * attempt is spent on it). The claiming UPDATE repeats the due condition and returns the rows it changed
 * (RETURNING: SQLite ≥ 3.35 and PostgreSQL), so a job another replica claimed meanwhile is not taken twice (on
 * PostgreSQL the row's new version is checked against it again). How the jobs are picked differs by dialect:
 * claimByIds (SQLite), claimInOneStatement (PostgreSQL).
 *
 * `running`: the ids of the jobs the claiming worker is running now. Their leases may look expired to it (its
 * clock stepped forward, or its event loop stalled past a renewal), or another replica may have taken one over
 * and put it back to pending (it failed there, or deferred): the worker is alive and running them all the same.
 * Taken back, a job would run twice at once under one worker id, and either run's completion would count for
 * both. They are left out of both picks, pending and expired.
 */
export async function claimDueJobs(
  tx: Tx,
  workerId: string,
  limit: number,
  leaseMs: number,
  now: number,
  running: RunningIds = NONE_RUNNING,
): Promise<ClaimedJob[]> {
  const claimJobs = async (n: number) => {
    if (n <= 0) return [];
    const claimed =
      tx.dataSource.options.type === 'postgres'
        ? await claimInOneStatement(tx, workerId, n, leaseMs, now, running)
        : await claimByIds(tx, workerId, n, leaseMs, now, running);
    // RETURNING promises no order: the oldest due first, as they were picked.
    claimed.sort((a, b) => a.runAt - b.runAt || compareText(a.id, b.id));
    return withTheirExams(tx, claimed);
  };
  // The exams' queued cards (card-queue.ts) and the jobs, the older first: the cards first if the oldest due
  // card is older than the oldest due job, else the jobs, and the other with the slots left. Neither waits for
  // the other to run dry (a stream of arrivals must not hold back the login_info of a staff's click).
  const [oldest] = await tx.all<{ card: number | string | null; job: number | string | null }>(
    `SELECT (${OLDEST_DUE_CARD}) AS card, (SELECT run_at FROM outbox_jobs WHERE ${PENDING_DUE} ORDER BY run_at LIMIT 1) AS job`,
    [now, now],
  );
  if (oldest?.card === null || oldest?.card === undefined) return claimJobs(limit);
  if (oldest.job !== null && Number(oldest.job) < Number(oldest.card)) {
    const jobs = await claimJobs(limit);
    return [...jobs, ...(await claimDueCards(tx, workerId, limit - jobs.length, leaseMs, now, running))];
  }
  const cards = await claimDueCards(tx, workerId, limit, leaseMs, now, running);
  return [...cards, ...(await claimJobs(limit - cards.length))];
}

/** The ids of the jobs a worker is running (a Set of ids, or a Map by id). */
export interface RunningIds {
  readonly size: number;
  has(id: string): boolean;
  keys(): IterableIterator<string>;
}

/** A claimed job, with the exam it is about as the claim's transaction saw it. */
export interface ClaimedJob extends JobRow {
  /** null: the job names an exam that does not exist; undefined: not read (the job names no exam by tenant). */
  readonly exam?: ExamRow | null;
}

/**
 * The claimed jobs' exams, read in one statement in the claim's transaction, where each job's handler read its
 * own as it started: a full-row read of the exam (~30 µs each) for four of an exam's five outbound steps
 * (BENCHMARKS.md, session 10). The handler starts right after the claim, so it sees the exam as it would have.
 */
async function withTheirExams(tx: Tx, jobs: JobRow[]): Promise<ClaimedJob[]> {
  const examIds = [
    ...new Set(jobs.flatMap((j) => (j.examId !== null && j.tenantKey !== null ? [j.examId] : []))),
  ];
  if (examIds.length === 0) return jobs;
  const rows = entityRows(tx.dataSource, ExamEntity);
  const raw = await tx.all(`${rows.select} WHERE exam_id IN (${examIds.map(() => '?').join(', ')})`, examIds);
  const exams = new Map(raw.map((r) => rows.from(r)).map((e) => [`${e.tenantKey}\u0000${e.examId}`, e]));
  return jobs.map((job) =>
    job.examId !== null && job.tenantKey !== null
      ? { ...job, exam: exams.get(`${job.tenantKey}\u0000${job.examId}`) ?? null }
      : job,
  );
}

/**
 * The customer tenant in `column` has not stopped nor uninstalled the app (a tenant with no row, a self-built
 * app's, is open). A condition on the row, for any query that names a tenant.
 */
export const tenantOpen = (column: string) =>
  `NOT EXISTS (SELECT 1 FROM tenants t WHERE t.tenant_key = ${column} AND t.state <> 'active')`;

/** Not attempted now: a job for a customer tenant that stopped or uninstalled the app (staff jobs always are). */
const OPEN_TENANT = `(tenant_key IS NULL OR kind IN (${quotedList(STAFF_JOBS)})
  OR ${tenantOpen('outbox_jobs.tenant_key')})`;

const CLAIM_SET = `state = 'running', attempts = attempts + 1, locked_by = ?, locked_until = ?, updated_at = ?`;
/** Claimable: a pending job whose time has come, or a running one whose worker's lease ran out (it died). */
const PENDING_DUE = `state = 'pending' AND run_at <= ?`;
const LEASE_EXPIRED = `state = 'running' AND locked_until < ?`;

const NONE_RUNNING: RunningIds = new Set<string>();
/** The claiming worker's own jobs in flight left out of its claim (claimDueJobs): SQL and its values. */
function notRunningHere(running: RunningIds): [string, string[]] {
  if (running.size === 0) return ['', []];
  const ids = [...running.keys()];
  return [` AND id NOT IN (${ids.map(() => '?').join(', ')})`, ids];
}

/**
 * SQLite: the due jobs' ids read first, in idx_outbox_due's (state, run_at) order up to `limit`, then claimed
 * by id. The same claim as one `UPDATE … WHERE id IN (SELECT …)` made SQLite build and sort temporary tables
 * on every claim, empty queue or not: 60–340 µs a claim against 9–47 µs this way (BENCHMARKS.md, session 6).
 * The transaction holds SQLite's write lock from BEGIN IMMEDIATE, so nothing claims in between; the due
 * condition is repeated in the UPDATE all the same. Expired leases (a worker died) are rare: an index probe
 * says whether there are any before they are looked for.
 */
async function claimByIds(
  tx: Tx,
  workerId: string,
  limit: number,
  leaseMs: number,
  now: number,
  running: RunningIds,
): Promise<JobRow[]> {
  const claimed: JobRow[] = [];
  const notMine = notRunningHere(running);
  const [expiredLease] = await tx.all(
    `SELECT 1 AS found FROM outbox_jobs WHERE ${LEASE_EXPIRED}${notMine[0]} LIMIT 1`,
    [now, ...notMine[1]],
  );
  if (expiredLease)
    claimed.push(...(await claimWhere(tx, LEASE_EXPIRED, limit, workerId, leaseMs, now, notMine)));
  if (claimed.length < limit)
    claimed.push(
      ...(await claimWhere(tx, PENDING_DUE, limit - claimed.length, workerId, leaseMs, now, notMine)),
    );
  return claimed;
}

/**
 * Claims up to `limit` jobs that meet `due` (its one parameter is now), the oldest run_at first; `except`
 * (notRunningHere) leaves some out of the pick.
 */
async function claimWhere(
  tx: Tx,
  due: string,
  limit: number,
  workerId: string,
  leaseMs: number,
  now: number,
  except: [string, string[]] = ['', []],
): Promise<JobRow[]> {
  const picked = await tx.all<{ id: string }>(
    `SELECT id FROM outbox_jobs WHERE ${due}${except[0]} AND ${OPEN_TENANT} ORDER BY run_at LIMIT ?`,
    [now, ...except[1], limit],
  );
  if (picked.length === 0) return [];
  const rows = entityRows(tx.dataSource, JobEntity);
  const raw = await tx.all(
    `UPDATE outbox_jobs SET ${CLAIM_SET}
     WHERE id IN (${picked.map(() => '?').join(', ')}) AND ${checkedOnRow(due)}
     RETURNING ${rows.columns}`,
    [workerId, now + leaseMs, now, ...picked.map((p) => p.id), now],
  );
  return raw.map((r) => rows.from(r));
}

/**
 * PostgreSQL: one statement picks, claims and returns the jobs; the due condition is repeated outside the
 * sub-select, so a job another replica claimed meanwhile is not taken twice (the row's new version is checked
 * against it again). Due pending jobs and expired leases are picked apart, each in index order and stopping
 * at `limit` (one query with `OR` read every due job before sorting them); the re-check is a CASE, not an OR,
 * so that the rows are found by id.
 */
async function claimInOneStatement(
  tx: Tx,
  workerId: string,
  limit: number,
  leaseMs: number,
  now: number,
  running: RunningIds,
): Promise<JobRow[]> {
  const [notMine, mine] = notRunningHere(running);
  const rows = entityRows(tx.dataSource, JobEntity);
  const raw = await tx.all(
    `UPDATE outbox_jobs SET ${CLAIM_SET}
     WHERE id IN (
         SELECT id FROM (
             SELECT id, run_at FROM (
                 SELECT id, run_at FROM outbox_jobs
                 WHERE ${PENDING_DUE}${notMine} AND ${OPEN_TENANT}
                 ORDER BY run_at LIMIT ?) AS due
             UNION ALL
             SELECT id, run_at FROM (
                 SELECT id, run_at FROM outbox_jobs
                 WHERE ${LEASE_EXPIRED}${notMine} AND ${OPEN_TENANT}
                 ORDER BY run_at LIMIT ?) AS expired
         ) AS claimable
         ORDER BY run_at LIMIT ?)
       AND CASE state WHEN 'pending' THEN run_at <= ? WHEN 'running' THEN locked_until < ? ELSE FALSE END
     RETURNING ${rows.columns}`,
    [workerId, now + leaseMs, now, now, ...mine, limit, now, ...mine, limit, limit, now, now],
  );
  return raw.map((r) => rows.from(r));
}

export async function completeJob(tx: Tx, job: JobRow, workerId: string, now: number): Promise<boolean> {
  if (isQueuedCard(job)) return (await completeCards(tx, [job], workerId)).size > 0;
  const changed = await tx.run(
    `UPDATE outbox_jobs SET state = 'done', locked_by = NULL, locked_until = NULL, last_error = NULL, updated_at = ?
     WHERE id = ? AND state = 'running' AND locked_by = ?`,
    [now, job.id, workerId],
  );
  return changed > 0;
}

/** completeJob for many jobs in one statement; returns the ids of those that were still this worker's. */
export async function completeJobs(
  tx: Tx,
  jobs: readonly JobRow[],
  workerId: string,
  now: number,
): Promise<Set<string>> {
  const cards = jobs.filter(isQueuedCard);
  if (cards.length > 0) {
    const done = await completeCards(tx, cards, workerId);
    const rows = jobs.filter((j) => !isQueuedCard(j));
    for (const id of await completeJobs(tx, rows, workerId, now)) done.add(id);
    return done;
  }
  if (jobs.length === 0) return new Set();
  const done = await tx.all<{ id: string }>(
    `UPDATE outbox_jobs SET state = 'done', locked_by = NULL, locked_until = NULL, last_error = NULL, updated_at = ?
     WHERE id IN (${jobs.map(() => '?').join(', ')}) AND ${checkedOnRow(`state = 'running' AND locked_by = ?`)}
     RETURNING id`,
    [now, ...jobs.map((j) => j.id), workerId],
  );
  return new Set(done.map((d) => d.id));
}

/**
 * A job that chose to run later (a Deferral): pending again from `runAt`, with the attempt its claim counted
 * given back (nothing was attempted) and its last error left as it was.
 */
export async function deferJob(tx: Tx, job: JobRow, workerId: string, runAt: number, now: number) {
  if (isQueuedCard(job))
    return handOverCard(tx, job, workerId, { state: 'pending', runAt, attempts: 0, lastError: null }, now);
  return tx.run(
    `UPDATE outbox_jobs SET state = 'pending', run_at = ?, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
       locked_by = NULL, locked_until = NULL, updated_at = ?
     WHERE id = ? AND state = 'running' AND locked_by = ?`,
    [runAt, now, job.id, workerId],
  );
}

export async function rescheduleJob(
  tx: Tx,
  job: JobRow,
  workerId: string,
  runAt: number,
  error: string,
  now: number,
) {
  if (isQueuedCard(job)) return handOverCard(tx, job, workerId, failed('pending', job, error, runAt), now);
  return tx.run(
    `UPDATE outbox_jobs SET state = 'pending', run_at = ?, locked_by = NULL, locked_until = NULL, last_error = ?, updated_at = ?
     WHERE id = ? AND state = 'running' AND locked_by = ?`,
    [runAt, error.slice(0, 2000), now, job.id, workerId],
  );
}

export async function buryJob(tx: Tx, job: JobRow, workerId: string, error: string, now: number) {
  if (isQueuedCard(job)) return handOverCard(tx, job, workerId, failed('dead', job, error, now), now);
  return tx.run(
    `UPDATE outbox_jobs SET state = 'dead', locked_by = NULL, locked_until = NULL, last_error = ?, updated_at = ?
     WHERE id = ? AND state = 'running' AND locked_by = ?`,
    [error.slice(0, 2000), now, job.id, workerId],
  );
}

/** A transient failure ended a job that allowed only so many attempts: given up without a notice. */
export async function skipJob(tx: Tx, job: JobRow, workerId: string, error: string, now: number) {
  if (isQueuedCard(job)) return handOverCard(tx, job, workerId, failed('skipped', job, error, now), now);
  return tx.run(
    `UPDATE outbox_jobs SET state = 'skipped', locked_by = NULL, locked_until = NULL, last_error = ?, updated_at = ?
     WHERE id = ? AND state = 'running' AND locked_by = ?`,
    [error.slice(0, 2000), now, job.id, workerId],
  );
}

/** A queued card's failed first attempt, as the post_card job it becomes (card-queue.ts handOverCard). */
const failed = (state: JobState, card: QueuedCard, error: string, runAt: number): HandedOver => ({
  state,
  runAt,
  attempts: card.attempts,
  lastError: error,
});

/**
 * The heartbeat of a running job: its lease pushed forward, only while this worker still holds it. False:
 * the job is no longer ours (its lease ran out and another worker took it, or an operator changed it).
 */
export async function renewLease(
  tx: Tx,
  job: JobRow,
  workerId: string,
  leaseMs: number,
  now: number,
): Promise<boolean> {
  if (isQueuedCard(job)) return renewCardLease(tx, job, workerId, leaseMs, now);
  const changed = await tx.run(
    `UPDATE outbox_jobs SET locked_until = ? WHERE id = ? AND state = 'running' AND locked_by = ?`,
    [now + leaseMs, job.id, workerId],
  );
  return changed > 0;
}

/**
 * A shutdown that cannot wait for these running jobs any longer: their leases end now, so that another worker
 * (a replica, or this gateway restarted) takes them at once rather than a lease later. Only while this worker
 * still holds them; returns how many.
 */
export async function releaseLeases(tx: Tx, jobs: readonly JobRow[], workerId: string, now: number) {
  const cards = await releaseCardLeases(tx, jobs.filter(isQueuedCard), workerId, now);
  const jobIds = jobs.filter((j) => !isQueuedCard(j)).map((j) => j.id);
  if (jobIds.length === 0) return cards;
  const rows = await tx.run(
    `UPDATE outbox_jobs SET locked_until = ?
     WHERE id IN (${jobIds.map(() => '?').join(', ')}) AND state = 'running' AND locked_by = ?`,
    [now - 1, ...jobIds, workerId],
  );
  return cards + rows;
}

/**
 * Finished jobs of these kinds are kept for good: their idempotency key is what keeps them from running again
 * (a set of account fields is registered once, however often the gateway restarts). Every other job is queued
 * by a change of state that does not happen twice (or by a round, whose key names it), so its finished row is
 * history only.
 */
const KEPT_WHEN_FINISHED: readonly JobKind[] = ['register_custom_fields'];

/**
 * Deletes up to `limit` jobs that finished (done, skipped) and were last due and last changed before `before`;
 * returns how many. Dead jobs stay until an operator revives them. Found by idx_outbox_due (state, run_at), so a
 * batch reads what it deletes, not the history kept.
 */
export async function pruneFinishedJobs(tx: Tx, before: number, limit: number): Promise<number> {
  return tx.run(
    `DELETE FROM outbox_jobs WHERE id IN (
       SELECT id FROM outbox_jobs
       WHERE state IN ('done', 'skipped') AND run_at < ? AND updated_at < ?
         AND kind NOT IN (${KEPT_WHEN_FINISHED.map(() => '?').join(', ')})
       ORDER BY run_at LIMIT ?)`,
    [before, before, ...KEPT_WHEN_FINISHED, limit],
  );
}

/** The jobs that post or patch messages in the staff chat. */
const STAFF_CHAT_KINDS: readonly JobKind[] = ['post_card', 'refresh_card', 'notify_dead'];
/**
 * Feishu's 230002 "The bot can not be outside the group" (发送消息, 错误码), as a job's failure records it
 * (feishu/clients.ts: `HTTP 400 code 230002 (…)`).
 */
const BOT_OUTSIDE_CHAT = 'code 230002';

/**
 * The bot is back in the staff chat (im.chat.member.bot.added_v1): the staff-chat jobs that died because it was
 * not there are queued again, as an operator's retry would; returns how many. Feishu's remedy for 230002 is to
 * add the bot to the chat, so nothing else was wrong with them.
 */
export async function reviveJobsRefusedOutsideChat(tx: Tx, now: number): Promise<number> {
  return tx.run(
    `UPDATE outbox_jobs SET state = 'pending', attempts = 0, run_at = ?, last_error = NULL, updated_at = ?
     WHERE state = 'dead' AND kind IN (${quotedList(STAFF_CHAT_KINDS)})
       AND (last_error LIKE ? OR last_error LIKE ?)`,
    [now, now, `%${BOT_OUTSIDE_CHAT} %`, `%${BOT_OUTSIDE_CHAT}`],
  );
}

/** An operator's retry of every dead job at once (after fixing what made them fail); returns how many. */
export async function reviveDeadJobs(tx: Tx, now: number): Promise<number> {
  return tx.run(
    `UPDATE outbox_jobs SET state = 'pending', attempts = 0, run_at = ?, last_error = NULL, updated_at = ?
     WHERE state = 'dead'`,
    [now, now],
  );
}

/** A pending job due longer ago than this and still unclaimed counts as overdue in /readyz. */
export const OVERDUE_AFTER_MS = 60_000;

/**
 * What /readyz reports about the jobs: `dead` (failed permanently, waiting for an operator), `retrying`
 * (pending after at least one failed attempt: a transient failure is being retried) and `overdue` (pending,
 * due more than OVERDUE_AFTER_MS ago and not claimed: no worker is keeping up, or none is running).
 */
export interface JobHealth {
  readonly dead: number;
  readonly retrying: number;
  readonly overdue: number;
}

export async function jobHealth(tx: SqlTx, now: number): Promise<JobHealth> {
  const [row] = await tx.all<{ dead: number; retrying: number; overdue: number }>(
    `SELECT
       (SELECT COUNT(*) FROM outbox_jobs WHERE state = 'dead') AS dead,
       (SELECT COUNT(*) FROM outbox_jobs WHERE state = 'pending' AND attempts > 0) AS retrying,
       (SELECT COUNT(*) FROM outbox_jobs WHERE state = 'pending' AND run_at < ?)
         -- The exams' queued cards (card-queue.ts) are pending jobs too.
         + (SELECT COUNT(*) FROM exams WHERE card_due_at < ?) AS overdue`,
    [now - OVERDUE_AFTER_MS, now - OVERDUE_AFTER_MS],
  );
  return {
    dead: Number(row?.dead ?? 0),
    retrying: Number(row?.retrying ?? 0),
    overdue: Number(row?.overdue ?? 0),
  };
}

/** An operator's retry of a dead job: a fresh set of attempts, due now. */
export async function reviveJob(tx: Tx, id: string, now: number): Promise<boolean> {
  const changed = await tx.run(
    `UPDATE outbox_jobs SET state = 'pending', attempts = 0, run_at = ?, last_error = NULL, updated_at = ?
     WHERE id = ? AND state = 'dead'`,
    [now, now, id],
  );
  return changed > 0;
}

export async function listJobs(tx: Tx, state: JobState | undefined, limit = 200): Promise<JobRow[]> {
  return tx.manager.getRepository(JobEntity).find({
    where: state ? { state } : {},
    order: { updatedAt: 'DESC' },
    take: limit,
  });
}

/** graphile-worker's curve with jitter: ~2^attempts seconds, capped, ±50 %. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempts, 20));
  return Math.round(exp * (0.5 + random()));
}

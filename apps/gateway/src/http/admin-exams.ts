// Operators' read-only views: exams by state (filtered, paged by a cursor), jobs that need a person, bound
// accounts. Shared by GET /admin/exams (JSON) and the admin page (HTML). Contact details never leave here:
// an exam shows its candidate's name only.
import { z } from 'zod';
import { overdueCardList } from '../outbox/card-queue.js';
import { OVERDUE_AFTER_MS } from '../outbox/jobs.js';
import { checkedOnRow, type ExamState, type JobState, type SqlTx } from '../store/index.js';
import { countExams, type ExamCounts } from '../workflow/exam-counts.js';

export const EXAM_STATES = [
  'pending_approval',
  'arranging',
  'arranged',
  'rejected',
  'failed',
] as const satisfies readonly ExamState[];

const optionalText = (max: number) =>
  z.preprocess((v) => (v === '' ? undefined : v), z.string().trim().min(1).max(max).optional());

/** `?state=…&tenant=…&q=…&limit=…&cursor=…`; an empty value is no filter (a form sends every field). */
export const ExamQuerySchema = z.object({
  state: z.preprocess((v) => (v === '' ? undefined : v), z.enum(EXAM_STATES).optional()),
  tenant: optionalText(128),
  /** Part of an exam, account, paper, talent or application id (case-insensitive). */
  q: optionalText(128),
  limit: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).max(200).default(50)),
  cursor: optionalText(512),
});
export type ExamQuery = z.infer<typeof ExamQuerySchema>;

export interface ExamSummary {
  readonly examId: string;
  readonly state: ExamState;
  readonly tenantKey: string;
  /** The customer's company name, once known (marketplace tenants). */
  readonly tenantName: string | null;
  readonly accountId: string | null;
  readonly accountName: string | null;
  readonly paperId: string | null;
  readonly providerId: string | null;
  /** Null once the personal data is erased. */
  readonly candidateName: string | null;
  readonly decidedBy: string | null;
  readonly decidedAt: number | null;
  readonly receivedAt: number;
  readonly updatedAt: number;
  readonly ageMs: number;
}

export interface ExamPage {
  readonly exams: ExamSummary[];
  /** Pass as `cursor` for the next page; null on the last one. */
  readonly nextCursor: string | null;
  /**
   * Set when a filtered search stopped at its window (SEARCH_WINDOW exams) before the page filled: the arrival
   * time of the oldest exam it looked at. The next page (nextCursor) searches further back; fewer exams than
   * `limit` on a page, or none, then does not mean there are no more.
   */
  readonly searchedBackTo: number | null;
  /**
   * Exams by state (not filtered): every open one; the final states (arranged, rejected, failed) of the exams
   * that arrived since `finalCountsSince` (workflow/exam-counts.ts: a count of every exam grew with the history).
   */
  readonly counts: Record<ExamState, number>;
  /** Epoch ms: the start of the final states' count window (FINAL_COUNT_DAYS before now). */
  readonly finalCountsSince: number;
}

export type ExamPageResult =
  | { readonly ok: true; readonly page: ExamPage }
  | { readonly ok: false; readonly code: 'bad_cursor'; readonly message: string };

/**
 * Newest first; the cursor is where the last page ended: (received_at, exam_id, tenant_key), opaque to
 * callers. An exam id is unique only inside one customer's Hire, so the tenant breaks ties.
 */
const encodeCursor = (e: { receivedAt: number; examId: string; tenantKey: string }) =>
  Buffer.from(JSON.stringify([e.receivedAt, e.examId, e.tenantKey])).toString('base64url');

function decodeCursor(cursor: string): [number, string, string] | undefined {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(value) &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === 'string' &&
      typeof value[2] === 'string'
    )
      return [value[0], value[1], value[2]];
  } catch {}
  return undefined;
}

const likePattern = (text: string) => `%${text.toLowerCase().replace(/[!%_]/g, '!$&')}%`;

/** An exam's place in the page's order. */
interface ExamKeyRow {
  received_at: number | string;
  exam_id: string;
  tenant_key: string;
}

interface ExamSqlRow {
  exam_id: string;
  state: ExamState;
  tenant_key: string;
  tenant_name: string | null;
  account_id: string | null;
  account_name: string | null;
  paper_id: string | null;
  provider_id: string | null;
  candidate: string | null;
  decided_by: string | null;
  decided_at: number | string | null;
  received_at: number | string;
  updated_at: number | string;
  personal_data_erased_at: number | string | null;
}

const nameOf = (candidate: string | null): string | null => {
  try {
    const name = (JSON.parse(candidate ?? 'null') as { name?: unknown } | null)?.name;
    return typeof name === 'string' && name !== '' ? name : null;
  } catch {
    return null;
  }
};
const num = (v: number | string | null) => (v === null ? null : Number(v));

/**
 * How many exams, newest first, a filtered page looks through at most. A filter that matches few exams (an id
 * that is not there, a state or tenant with none lately) read every exam stored: 1.1–1.7 s on 1,000,000, in a
 * write transaction and on better-sqlite3 in the main thread, with every push and click waiting (BENCHMARKS.md,
 * session 22). A page now stops at this window and says how far back it looked; its next page goes on from there.
 */
export const SEARCH_WINDOW = 10_000;

/** Open states are few (the exams being worked on): searched through idx_exams_state, with no window. */
const OPEN_STATES: readonly ExamState[] = ['pending_approval', 'arranging'];

/** `counted`: the counts already read for the same page (the admin page shows them per tenant too). */
export async function listExams(
  tx: SqlTx,
  query: ExamQuery,
  now: number,
  counted?: ExamCounts,
): Promise<ExamPageResult> {
  const where: string[] = [];
  const params: unknown[] = [];
  const openState = query.state !== undefined && OPEN_STATES.includes(query.state);
  if (query.state && openState) {
    // An equality idx_exams_state can serve: as many entries as exams in that open state.
    where.push('e.state = ?');
    params.push(query.state);
  } else if (query.state) {
    // Checked on the row, as the page walks idx_exams_received newest first: SQLite, which plans without
    // statistics, took idx_exams_state's equality instead and sorted every exam in the state (for `arranged`,
    // most of the history) to show 50.
    where.push(checkedOnRow('e.state = ?'));
    params.push(query.state);
  }
  if (query.tenant) {
    where.push('e.tenant_key = ?');
    params.push(query.tenant);
  }
  if (query.q) {
    const columns = ['e.exam_id', 'e.account_id', 'e.paper_id', 'e.talent_id', 'e.application_id'];
    where.push(`(${columns.map((c) => `LOWER(${c}) LIKE ? ESCAPE '!'`).join(' OR ')})`);
    params.push(...columns.map(() => likePattern(query.q as string)));
  }
  let after: [number, string, string] | undefined;
  if (query.cursor) {
    after = decodeCursor(query.cursor);
    if (!after) return { ok: false, code: 'bad_cursor', message: 'cursor is not one this endpoint gave' };
    // A row value (both dialects): the exams after the cursor in the page's order, a range of idx_exams_received.
    where.push('(e.received_at, e.exam_id, e.tenant_key) < (?, ?, ?)');
    params.push(after[0], after[1], after[2]);
  }
  // A filter that walks the arrivals (not an open state's index) looks through SEARCH_WINDOW exams at most: the
  // window's last exam, in the page's order, bounds the walk.
  const windowed =
    !openState && (query.state !== undefined || query.tenant !== undefined || query.q !== undefined);
  let edge: ExamKeyRow | undefined;
  if (windowed) {
    // A range on the arrival time even without a cursor: without one, SQLite (no statistics) read the whole
    // table and sorted it rather than walk idx_exams_received for an OFFSET.
    [edge] = await tx.all<ExamKeyRow>(
      `SELECT received_at, exam_id, tenant_key FROM exams e
       WHERE ${after ? '(e.received_at, e.exam_id, e.tenant_key) < (?, ?, ?)' : 'e.received_at <= ?'}
       ORDER BY e.received_at DESC, e.exam_id DESC, e.tenant_key DESC
       LIMIT 1 OFFSET ?`,
      [...(after ?? [Number.MAX_SAFE_INTEGER]), SEARCH_WINDOW - 1],
    );
    if (edge) {
      where.push('(e.received_at, e.exam_id, e.tenant_key) >= (?, ?, ?)');
      params.push(Number(edge.received_at), edge.exam_id, edge.tenant_key);
    }
  }
  const rows = await tx.all<ExamSqlRow>(
    `SELECT e.exam_id, e.state, e.tenant_key, t.name AS tenant_name, e.account_id, a.name AS account_name,
            e.paper_id, e.provider_id, e.candidate, e.decided_by, e.decided_at, e.received_at, e.updated_at,
            e.personal_data_erased_at
     FROM exams e
     LEFT JOIN accounts a ON a.account_id = e.account_id AND a.tenant_key = e.tenant_key
     LEFT JOIN tenants t ON t.tenant_key = e.tenant_key
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY e.received_at DESC, e.exam_id DESC, e.tenant_key DESC
     LIMIT ?`,
    [...params, query.limit + 1],
  );
  const exams = rows.slice(0, query.limit).map(
    (r): ExamSummary => ({
      examId: r.exam_id,
      state: r.state,
      tenantKey: r.tenant_key,
      tenantName: r.tenant_name,
      accountId: r.account_id,
      accountName: r.account_name,
      paperId: r.paper_id,
      providerId: r.provider_id,
      candidateName: r.personal_data_erased_at === null ? nameOf(r.candidate) : null,
      decidedBy: r.decided_by,
      decidedAt: num(r.decided_at),
      receivedAt: Number(r.received_at),
      updatedAt: Number(r.updated_at),
      ageMs: Math.max(0, now - Number(r.received_at)),
    }),
  );
  const last = exams.at(-1);
  const counts = Object.fromEntries(EXAM_STATES.map((s) => [s, 0])) as Record<ExamState, number>;
  counted ??= await countExams(tx, now);
  for (const byState of counted.byTenant.values())
    for (const state of EXAM_STATES) counts[state] += byState[state] ?? 0;
  // The page filled: the next one starts after its last exam. It did not, but the window ended before the
  // history did: the next one starts after the window.
  const full = rows.length > query.limit && last !== undefined;
  const nextCursor = full
    ? encodeCursor(last)
    : edge
      ? encodeCursor({
          receivedAt: Number(edge.received_at),
          examId: edge.exam_id,
          tenantKey: edge.tenant_key,
        })
      : null;
  return {
    ok: true,
    page: {
      exams,
      nextCursor,
      searchedBackTo: !full && edge ? Number(edge.received_at) : null,
      counts,
      finalCountsSince: counted.finalSince,
    },
  };
}

export interface JobSummary {
  readonly id: string;
  readonly kind: string;
  readonly examId: string | null;
  readonly state: JobState;
  readonly attempts: number;
  readonly runAt: number;
  readonly lastError: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Jobs a person should look at: dead ones (waiting for a retry) and pending ones long overdue. */
export async function jobsNeedingAttention(tx: SqlTx, now: number, limit = 100): Promise<JobSummary[]> {
  const rows = await tx.all<Record<string, unknown>>(
    `SELECT id, kind, exam_id, state, attempts, run_at, last_error, created_at, updated_at
     FROM outbox_jobs
     WHERE state = 'dead' OR (state = 'pending' AND run_at < ?)
     ORDER BY updated_at DESC
     LIMIT ?`,
    [now - OVERDUE_AFTER_MS, limit],
  );
  const jobs = rows.map((r) => ({
    id: String(r.id),
    kind: String(r.kind),
    examId: (r.exam_id as string | null) ?? null,
    state: r.state as JobState,
    attempts: Number(r.attempts),
    runAt: Number(r.run_at),
    lastError: (r.last_error as string | null) ?? null,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  }));
  // The exams' first cards queued on their rows (outbox/card-queue.ts) are post_card jobs to the reader.
  const cards = (await overdueCardList(tx, now - OVERDUE_AFTER_MS, limit)).map(
    (c): JobSummary => ({
      id: c.id,
      kind: 'post_card',
      examId: c.examId,
      state: c.lockedBy === null ? 'pending' : 'running',
      attempts: c.lockedBy === null ? 0 : 1,
      runAt: c.dueAt,
      lastError: null,
      createdAt: c.receivedAt,
      updatedAt: c.dueAt,
    }),
  );
  if (cards.length === 0) return jobs;
  return [...jobs, ...cards].sort((a, b) => b.updatedAt - a.updatedAt).slice(0, limit);
}

export interface AccountSummary {
  readonly accountId: string;
  readonly name: string | null;
  readonly tenantKey: string;
  readonly providerId: string;
  /** The papers published to Feishu Hire for it; null before the first sync. */
  readonly paperIds: string[] | null;
  readonly boundAt: number;
}

export async function listAccounts(tx: SqlTx, limit = 200): Promise<AccountSummary[]> {
  const rows = await tx.all<Record<string, unknown>>(
    `SELECT account_id, name, tenant_key, provider_id, published_paper_ids, bound_at
     FROM accounts ORDER BY bound_at DESC LIMIT ?`,
    [limit],
  );
  return rows.map((r) => {
    let paperIds: string[] | null = null;
    try {
      const parsed = JSON.parse(String(r.published_paper_ids ?? 'null')) as unknown;
      if (Array.isArray(parsed)) paperIds = parsed.map(String);
    } catch {}
    return {
      accountId: String(r.account_id),
      name: (r.name as string | null) ?? null,
      tenantKey: String(r.tenant_key),
      providerId: String(r.provider_id),
      paperIds,
      boundAt: Number(r.bound_at),
    };
  });
}

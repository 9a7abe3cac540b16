// How many exams each customer has in each state, for the operators' views (GET /admin/exams, /admin/tenants,
// /admin/ui). Exams are never deleted, so a count over every exam grows with the history: on 1,000,000 exams
// the count by tenant and state took 4.4 s (a sort of every row) and the count by state 55 ms, in a write
// transaction and on better-sqlite3 in the main thread, so every push and card click waited for an operator's
// page (BENCHMARKS.md, session 22). Counted instead:
// - the open states (pending_approval, arranging) exactly: idx_exams_state's entries for them, as many as the
//   exams still being worked on;
// - the final states (arranged, rejected, failed) over the exams that arrived in the last FINAL_COUNT_DAYS:
//   a range of idx_exams_received, as many as that window's arrivals, whatever the history kept.
import { checkedOnRow, type ExamState, quotedList, type SqlTx } from '../store/index.js';
import { FINAL_STATES } from './exam-lifecycle.js';

/** The window the final states are counted over, in days. */
export const FINAL_COUNT_DAYS = 7;
const DAY_MS = 86_400_000;

const OPEN_STATES: readonly ExamState[] = ['pending_approval', 'arranging'];

export interface ExamCounts {
  /** By tenant, then state: open states all, final ones arrived since `finalSince`. */
  readonly byTenant: ReadonlyMap<string, Partial<Record<ExamState, number>>>;
  /** Epoch ms: the final states count the exams that arrived since then. */
  readonly finalSince: number;
}

export async function countExams(tx: SqlTx, now: number): Promise<ExamCounts> {
  const finalSince = now - FINAL_COUNT_DAYS * DAY_MS;
  // One statement, so one snapshot: on PostgreSQL each statement of a transaction reads its own, and an exam
  // that moved from arranging to arranged between two statements was counted in both.
  const rows = await tx.all<{ tenant_key: string; state: ExamState; n: number | string }>(
    `SELECT tenant_key, state, COUNT(*) AS n FROM exams WHERE state IN (${quotedList(OPEN_STATES)})
     GROUP BY tenant_key, state
     UNION ALL
     SELECT tenant_key, state, COUNT(*) AS n FROM exams
     WHERE received_at >= ? AND ${checkedOnRow(`state IN (${quotedList(FINAL_STATES)})`)}
     GROUP BY tenant_key, state`,
    [finalSince],
  );
  const byTenant = new Map<string, Partial<Record<ExamState, number>>>();
  for (const row of rows) {
    const counts = byTenant.get(row.tenant_key) ?? {};
    counts[row.state] = Number(row.n);
    byTenant.set(row.tenant_key, counts);
  }
  return { byTenant, finalSince };
}

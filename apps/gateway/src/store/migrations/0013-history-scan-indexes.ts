import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The two periodic scans of exams, bounded by what they look for instead of by the history kept. Each walked
 * idx_exams_state, reading every exam in its states: on 1,000,000 ended exams, the result-poll round's SELECT
 * took 167 ms and the hourly erasure's 297 ms, and on better-sqlite3 the event loop and every write waited
 * meanwhile (BENCHMARKS.md, sessions 19 and 20).
 *
 * - idx_exams_unerased: exams in a final state whose personal data is still kept (the erasure's candidates:
 *   the last RETENTION_DAYS of ended exams), by arrival. An exam's last change (updated_at, what the erasure
 *   asks about) is never before its arrival, so the erasure bounds the arrival too and walks only the exams
 *   that arrived before its cut-off. Keyed by the last change instead, every later change of an ended exam
 *   (its login info, its result) would move its entry; by arrival, an exam enters once and leaves once.
 * - idx_exams_awaiting_result: arranged exams without a result (the result polls' candidates), by when they
 *   were arranged (the age RESULT_POLL_DAYS counts).
 *
 * Partial, so that an exam is in each only while the scan may want it. Both lead with `state`: SQLite plans
 * without statistics and would otherwise take idx_exams_state's equality on the state over a range on a
 * partial index; with the state first, the partial index has the same equality and the range besides. A
 * query uses a partial index only when its WHERE repeats the index's conditions term for term (both dialects),
 * so exam-lifecycle.ts writes them literally, in this order; test/store.test.ts plans both scans.
 */
export class HistoryScanIndexes1764000000013 implements MigrationInterface {
  name = 'HistoryScanIndexes1764000000013';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX idx_exams_unerased ON exams (state, received_at)
       WHERE state IN ('arranged', 'rejected', 'failed') AND personal_data_erased_at IS NULL`,
    );
    await q.query(
      `CREATE INDEX idx_exams_awaiting_result ON exams (state, (COALESCE(login_info_reported_at, updated_at)))
       WHERE state = 'arranged' AND result IS NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS idx_exams_awaiting_result');
    await q.query('DROP INDEX IF EXISTS idx_exams_unerased');
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The console's list of exams, newest first (GET /admin/exams, /admin/ui): in the order of this index, walked
 * backwards, so that a page reads its 50 exams instead of every exam stored. Without it, each page sorted the
 * whole table (and joined every row to its account and tenant before sorting): 0.3 s on 1,000,000 exams, on
 * better-sqlite3 in the main thread, with every write waiting (BENCHMARKS.md, session 20). An arrival writes
 * one more entry, at the end of the index (times only grow). The time alone, not the page's whole order: exams
 * that arrived in the same millisecond are few, and SQLite sorts each such group as it walks; an index of the
 * whole order (with exam_id and tenant_key) made an arrival's commit write more of the log: 0.96–0.97× the
 * pushes a second of a build without it in the ingest bench, where this one made 0.99× at the same CPU per push.
 */
export class ConsoleOrderIndex1764000000014 implements MigrationInterface {
  name = 'ConsoleOrderIndex1764000000014';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE INDEX idx_exams_received ON exams (received_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS idx_exams_received');
  }
}

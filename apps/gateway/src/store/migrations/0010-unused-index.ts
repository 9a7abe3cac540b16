import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * idx_outbox_exam (outbox_jobs.exam_id, since 0001) serves no query: jobs are found by id, by their due time
 * (idx_outbox_due), by their lease (idx_outbox_lease) and by their idempotency key, never by exam. One B-tree
 * fewer to write for every job: with Feishu's exam ids (snowflakes, time-ordered) its entries appended, 0.13 of
 * the 2.1 pages of write-ahead log an arriving exam cost; with random ids, 0.8 of 4.4 (the store bench;
 * BENCHMARKS.md, session 7).
 */
export class UnusedIndex1764000000010 implements MigrationInterface {
  name = 'UnusedIndex1764000000010';

  async up(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS idx_outbox_exam');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('CREATE INDEX IF NOT EXISTS idx_outbox_exam ON outbox_jobs (exam_id)');
  }
}

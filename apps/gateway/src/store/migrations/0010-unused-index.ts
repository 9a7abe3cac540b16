import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * idx_outbox_exam (outbox_jobs.exam_id, since 0001) serves no query: jobs are found by id, by their due time
 * (idx_outbox_due), by their lease (idx_outbox_lease) and by their idempotency key, never by exam. Exam ids are
 * Feishu's and random, so every job written put its entry on a different leaf page: 0.8 of the 4.4 pages a
 * SQLite commit wrote per arriving exam, and one more page per job of each exam's steps (BENCHMARKS.md, session 7).
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

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An exam's first card is queued on the exam row itself (outbox/card-queue.ts): `card_due_at` is when the
 * outbox worker may take it (the exam's arrival; while a worker posts it, the end of that worker's lease), and
 * `card_locked_by` the worker that took it. Both are cleared once the card is posted, or handed to an
 * outbox_jobs row for its retries. An arrival writes no job row: measured against the build that did, 1.15×
 * the pushes a second at 0.84× the CPU per push (BENCHMARKS.md, session 25).
 *
 * Partial: only the exams whose card is queued are in the index (a handful, however many exams are kept), so
 * the rest of an exam's life does not touch it. Exams stored before this migration have their cards posted or
 * their post_card jobs, and no queued card.
 */
export class CardQueue1764000000017 implements MigrationInterface {
  name = 'CardQueue1764000000017';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE exams ADD COLUMN card_due_at bigint');
    await q.query('ALTER TABLE exams ADD COLUMN card_locked_by varchar(64)');
    await q.query('CREATE INDEX idx_exams_card_queue ON exams (card_due_at) WHERE card_due_at IS NOT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS idx_exams_card_queue');
    await q.query('ALTER TABLE exams DROP COLUMN card_locked_by');
    await q.query('ALTER TABLE exams DROP COLUMN card_due_at');
  }
}

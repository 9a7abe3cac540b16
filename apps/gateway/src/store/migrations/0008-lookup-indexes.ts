import { type MigrationInterface, type QueryRunner, TableIndex } from 'typeorm';

/**
 * Two look-ups that read more rows than they return.
 *
 * Exams looked up by their Feishu exam id alone (an arrival checks every tenant for the id; a card click
 * finds its exam). The primary key is (tenant_key, exam_id): PostgreSQL cannot search it by its second
 * column and read the whole table instead, 227 ms a batch over 1,000,000 exams (BENCHMARKS.md). SQLite's
 * rebuilt table happened to key it (exam_id, tenant_key); the index makes both dialects say what they use.
 *
 * Expired leases: the claim looks for running jobs whose lease ended, and (state, run_at) found every running
 * job and read its row to compare locked_until (about 30 rows a claim under load, a third of its cost).
 */
export class LookupIndexes1764000000008 implements MigrationInterface {
  name = 'LookupIndexes1764000000008';

  async up(q: QueryRunner): Promise<void> {
    await q.createIndex('exams', new TableIndex({ name: 'idx_exams_exam_id', columnNames: ['exam_id'] }));
    await q.createIndex(
      'outbox_jobs',
      new TableIndex({ name: 'idx_outbox_lease', columnNames: ['state', 'locked_until'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('outbox_jobs', 'idx_outbox_lease');
    await q.dropIndex('exams', 'idx_exams_exam_id');
  }
}

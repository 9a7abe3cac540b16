import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The account-field registrations of each customer, newest first (workflow/accounts.ts
 * queueCustomFieldRegistration): Feishu keeps the set registered last, so a set is registered again when the last
 * one queued is another. Partial: only the register_custom_fields jobs (a few per customer, kept for good), so the
 * other jobs' writes do not touch it, and the look-up at each start reads a customer's few rows instead of
 * every job kept. The query repeats the condition term for term, as a partial index needs.
 */
export class FieldSetIndex1764000000016 implements MigrationInterface {
  name = 'FieldSetIndex1764000000016';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX idx_outbox_field_sets ON outbox_jobs (tenant_key, created_at)
       WHERE kind = 'register_custom_fields'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS idx_outbox_field_sets');
  }
}

import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/**
 * Which provider instance arranged an exam (only it may report the exam's result), and when the exam's
 * personal data (candidate contact, exam password) was erased after the retention period.
 */
export class Hardening1764000000004 implements MigrationInterface {
  name = 'Hardening1764000000004';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('exams', [
      new TableColumn({ name: 'provider_id', type: 'varchar', length: '128', isNullable: true }),
      new TableColumn({ name: 'personal_data_erased_at', type: 'bigint', isNullable: true }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('exams', 'personal_data_erased_at');
    await q.dropColumn('exams', 'provider_id');
  }
}

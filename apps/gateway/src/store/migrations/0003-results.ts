import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/** An exam's result from its platform, and when Feishu Hire last received it. */
export class Results1764000000002 implements MigrationInterface {
  name = 'Results1764000000002';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('exams', [
      new TableColumn({ name: 'result', type: 'text', isNullable: true }),
      new TableColumn({ name: 'result_reported_at', type: 'bigint', isNullable: true }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('exams', 'result_reported_at');
    await q.dropColumn('exams', 'result');
  }
}

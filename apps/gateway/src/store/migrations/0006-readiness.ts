import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';

/**
 * The one-row table /readyz writes to (a read-only, full or failing disk shows as a failed write, not as a
 * ready gateway), and jobs queued before transient failures stopped being final: their `max_attempts` was the
 * old default of 12, which now means "give up quietly after 12"; 0 is "retry until it succeeds".
 */
export class Readiness1764000000006 implements MigrationInterface {
  name = 'Readiness1764000000006';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'readiness',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true },
          { name: 'checked_at', type: 'bigint', isNullable: false },
        ],
      }),
    );
    await q.query(
      "UPDATE outbox_jobs SET max_attempts = 0 WHERE max_attempts = 12 AND state IN ('pending', 'running')",
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('readiness');
  }
}

import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';

/** Written with TypeORM's Table API, not raw DDL, so the same migration runs on SQLite and PostgreSQL. */
export class Initial1764000000000 implements MigrationInterface {
  name = 'Initial1764000000000';

  async up(q: QueryRunner): Promise<void> {
    const varchar = (name: string, length: number, nullable = false) => ({
      name,
      type: 'varchar',
      length: String(length),
      isNullable: nullable,
    });
    const bigint = (name: string, nullable = false) => ({ name, type: 'bigint', isNullable: nullable });
    const text = (name: string, nullable = true) => ({ name, type: 'text', isNullable: nullable });

    await q.createTable(
      new Table({
        name: 'exams',
        columns: [
          { ...varchar('exam_id', 128), isPrimary: true },
          varchar('tenant_key', 128),
          varchar('app_id', 128),
          varchar('event_id', 128),
          varchar('account_id', 128, true),
          varchar('paper_id', 255, true),
          varchar('talent_id', 128, true),
          varchar('application_id', 128, true),
          text('candidate', false),
          varchar('state', 32),
          varchar('decided_by', 128, true),
          bigint('decided_at', true),
          text('reject_reason'),
          text('arrangement'),
          text('failure_reason'),
          varchar('card_message_id', 128, true),
          bigint('login_info_reported_at', true),
          bigint('received_at'),
          bigint('updated_at'),
        ],
      }),
    );
    await q.createIndex('exams', new TableIndex({ name: 'idx_exams_state', columnNames: ['state'] }));

    await q.createTable(
      new Table({
        name: 'outbox_jobs',
        columns: [
          { ...varchar('id', 64), isPrimary: true },
          varchar('kind', 64),
          varchar('exam_id', 128, true),
          text('payload', false),
          { ...varchar('idempotency_key', 255), isUnique: true },
          varchar('state', 16),
          { name: 'attempts', type: 'integer' },
          { name: 'max_attempts', type: 'integer' },
          bigint('run_at'),
          bigint('locked_until', true),
          varchar('locked_by', 64, true),
          text('last_error'),
          bigint('created_at'),
          bigint('updated_at'),
        ],
      }),
    );
    await q.createIndex(
      'outbox_jobs',
      new TableIndex({ name: 'idx_outbox_due', columnNames: ['state', 'run_at'] }),
    );
    await q.createIndex('outbox_jobs', new TableIndex({ name: 'idx_outbox_exam', columnNames: ['exam_id'] }));

    await q.createTable(
      new Table({
        name: 'processed_events',
        columns: [
          { ...varchar('event_id', 128), isPrimary: true },
          varchar('event_type', 128),
          varchar('exam_id', 128, true),
          varchar('outcome', 16),
          text('reason'),
          bigint('received_at'),
        ],
      }),
    );
    await q.createIndex(
      'processed_events',
      new TableIndex({ name: 'idx_events_outcome', columnNames: ['outcome'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('processed_events');
    await q.dropTable('outbox_jobs');
    await q.dropTable('exams');
  }
}

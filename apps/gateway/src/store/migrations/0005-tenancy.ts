import { type MigrationInterface, type QueryRunner, Table, TableColumn } from 'typeorm';

/**
 * Marketplace tenancy: credentials every replica shares (the app_ticket, tenant tokens), the customer tenants
 * and their lifecycle, the tenant a job acts for, and accounts and exams keyed by tenant (their ids are only
 * unique inside one customer's Feishu Hire).
 */
export class Tenancy1764000000005 implements MigrationInterface {
  name = 'Tenancy1764000000005';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'credentials',
        columns: [
          { name: 'cache_key', type: 'varchar', length: '255', isPrimary: true },
          { name: 'value', type: 'text' },
          { name: 'expires_at', type: 'bigint', isNullable: true },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'tenants',
        columns: [
          { name: 'tenant_key', type: 'varchar', length: '128', isPrimary: true },
          { name: 'app_id', type: 'varchar', length: '128' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'name', type: 'varchar', length: '255', isNullable: true },
          { name: 'state_changed_at', type: 'bigint', isNullable: true },
          { name: 'first_seen_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
    await q.addColumn(
      'outbox_jobs',
      new TableColumn({ name: 'tenant_key', type: 'varchar', length: '128', isNullable: true }),
    );
    // (SQLite: each step rebuilds the table, rows kept; PostgreSQL: the constraint is replaced.)
    await q.dropPrimaryKey('accounts');
    await q.createPrimaryKey('accounts', ['tenant_key', 'account_id']);
    await q.dropPrimaryKey('exams');
    await q.createPrimaryKey('exams', ['tenant_key', 'exam_id']);
    // Jobs name their exam by tenant and id from now on; the ones already queued get their exam's tenant.
    await q.query(
      'UPDATE outbox_jobs SET tenant_key = (SELECT e.tenant_key FROM exams e WHERE e.exam_id = outbox_jobs.exam_id) WHERE exam_id IS NOT NULL',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropPrimaryKey('exams');
    await q.createPrimaryKey('exams', ['exam_id']);
    await q.dropPrimaryKey('accounts');
    await q.createPrimaryKey('accounts', ['account_id']);
    await q.dropColumn('outbox_jobs', 'tenant_key');
    await q.dropTable('tenants');
    await q.dropTable('credentials');
  }
}

import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';

/** Bound customer accounts (hire.eco_account.created_v1) and the papers last published for each. */
export class Accounts1764000000001 implements MigrationInterface {
  name = 'Accounts1764000000001';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'accounts',
        columns: [
          { name: 'account_id', type: 'varchar', length: '128', isPrimary: true },
          { name: 'tenant_key', type: 'varchar', length: '128' },
          { name: 'app_id', type: 'varchar', length: '128' },
          { name: 'scope', type: 'integer', isNullable: true },
          { name: 'name', type: 'varchar', length: '255', isNullable: true },
          { name: 'usage_list', type: 'text' },
          { name: 'custom_fields', type: 'text' },
          { name: 'provider_id', type: 'varchar', length: '128' },
          { name: 'published_paper_ids', type: 'text', isNullable: true },
          { name: 'bound_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('accounts');
  }
}

import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/** The papers last published for an account, with their names and durations: the card names the paper. */
export class PaperNames1764000000007 implements MigrationInterface {
  name = 'PaperNames1764000000007';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'accounts',
      new TableColumn({ name: 'published_papers', type: 'text', isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('accounts', 'published_papers');
  }
}

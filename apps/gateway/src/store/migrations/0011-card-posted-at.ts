import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When an exam's approval card was posted: Feishu patches a message only within 14 days of sending it
 * (im.v1.message.patch, 使用限制), so an older card is replaced by a new one instead of patched in vain.
 * Cards posted before this column existed have none; their exam's arrival stands in for it (the card was
 * posted after), which can only make a card look older than it is, never younger.
 *
 * A plain ALTER TABLE on both dialects: TypeORM's addColumn rebuilds a SQLite table (a copy of every exam,
 * and it tried to rebuild an index 0009 dropped), where SQLite adds a nullable column without touching a row.
 */
export class CardPostedAt1764000000011 implements MigrationInterface {
  name = 'CardPostedAt1764000000011';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE exams ADD COLUMN card_posted_at bigint');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE exams DROP COLUMN card_posted_at');
  }
}

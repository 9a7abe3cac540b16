import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The staff chat's pace, shared by every replica on the database (feishu/chat-pace.ts): for each chat Feishu
 * has refused a card into, until when it is paced and its next free slot; and the slot each waiting card
 * holds, by its job. Rows exist only while a chat is paced, and are removed once it no longer is.
 */
export class StaffChatPace1764000000012 implements MigrationInterface {
  name = 'StaffChatPace1764000000012';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      'CREATE TABLE staff_chat_pace (chat_id varchar(128) PRIMARY KEY NOT NULL, paced_until bigint NOT NULL, next_slot bigint NOT NULL)',
    );
    await q.query(
      'CREATE TABLE staff_chat_slots (job_id varchar(64) PRIMARY KEY NOT NULL, slot bigint NOT NULL)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE staff_chat_slots');
    await q.query('DROP TABLE staff_chat_pace');
  }
}

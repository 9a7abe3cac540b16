import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The admin page's sessions signed out before their eight hours were up (http/admin-session.ts): a session
 * cookie is signed, not stored, so signing out must name it here for a copy of it (a shared machine, a proxy's
 * log, a browser's profile) to stop opening the page. Keyed by a digest of the cookie's signature, never the
 * cookie; a row is removed once its session would have expired anyway.
 */
export class AdminSignOuts1764000000015 implements MigrationInterface {
  name = 'AdminSignOuts1764000000015';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      'CREATE TABLE admin_sign_outs (session varchar(64) PRIMARY KEY NOT NULL, expires_at bigint NOT NULL)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE admin_sign_outs');
  }
}

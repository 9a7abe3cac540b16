// store: one replica migrates at a time. TypeORM's runMigrations takes no lock: replicas starting together on
// a new PostgreSQL database each created the migrations table and ran the first migration, and all but one
// failed to start ("relation "migrations" already exists", a duplicate pg_type key). On SQLite each migration
// held the file's write lock, but not the read of what was applied before them: a process that read it while
// another was inside a migration ran that migration again once the other committed ("table "exams" already
// exists": the gateway failed to start beside a `feishu-exam db migrate`), or recorded it twice.
import type { DataSource, QueryRunner } from 'typeorm';

/** The advisory lock's key: any constant that nothing else on the database uses ("fxmigr" in ASCII). */
export const MIGRATION_LOCK_KEY = 0x66_78_6d_69_67_72;

/**
 * Runs `work` (the schema check and the migrations) while no other process migrates the database.
 *
 * PostgreSQL: under a session-level advisory lock on a connection of its own: another replica's `work` waits
 * for it, then finds the migrations applied. The lock dies with the session, so a replica killed while
 * migrating lets the next one in. `work` is given no query runner: each migration runs in its own transaction.
 *
 * SQLite: in one transaction that takes the file's write lock first (BEGIN IMMEDIATE: another process's
 * migrations are waited for, in the busy handler), on the query runner `work` is given: the check, the read of
 * what was applied and every migration see the file as it is, and the whole upgrade commits or none of it.
 */
export async function whileMigrationLocked<T>(
  dataSource: DataSource,
  work: (inTransaction: QueryRunner | undefined) => Promise<T>,
): Promise<T> {
  if (dataSource.options.type !== 'postgres') return inImmediateTransaction(dataSource, work);
  const runner = dataSource.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await work(undefined);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

async function inImmediateTransaction<T>(
  dataSource: DataSource,
  work: (inTransaction: QueryRunner) => Promise<T>,
): Promise<T> {
  const runner = dataSource.createQueryRunner();
  // TypeORM's own statements on this runner (a table rebuilt by a migration) must not BEGIN inside it.
  const state = runner as { isTransactionActive: boolean };
  await runner.query('BEGIN IMMEDIATE');
  state.isTransactionActive = true;
  try {
    const value = await work(runner);
    await runner.query('COMMIT');
    return value;
  } catch (error) {
    await runner.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    state.isTransactionActive = false;
    await runner.release();
  }
}

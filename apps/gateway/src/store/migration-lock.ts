// store: one replica migrates at a time. TypeORM's runMigrations takes no lock: replicas starting together on
// a new PostgreSQL database each created the migrations table and ran the first migration, and all but one
// failed to start ("relation "migrations" already exists", a duplicate pg_type key). SQLite needs nothing:
// each migration's transaction holds the file's write lock, and the busy timeout waits for it.
import type { DataSource } from 'typeorm';

/** The advisory lock's key: any constant that nothing else on the database uses ("fxmigr" in ASCII). */
export const MIGRATION_LOCK_KEY = 0x66_78_6d_69_67_72;

/**
 * Runs `work` (the schema check and the migrations) while this process holds a session-level advisory lock
 * on a connection of its own: another replica's `work` waits for it, then finds the migrations applied. The
 * lock dies with the session, so a replica killed while migrating lets the next one in.
 */
export async function whileMigrationLocked<T>(dataSource: DataSource, work: () => Promise<T>): Promise<T> {
  if (dataSource.options.type !== 'postgres') return work();
  const runner = dataSource.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await work();
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

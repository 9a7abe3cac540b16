// store maintenance for operators (the `feishu-exam db …` commands): an online backup, and migrations run on
// their own, before a rolling upgrade starts the new release.
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from '../log.js';
import { type OpenStoreOptions, openStore } from './index.js';

export type MaintenanceResult = { ok: true; message: string } | { ok: false; message: string };

/**
 * An online backup of a SQLite database into `target` (a new file): `VACUUM INTO` copies a consistent
 * snapshot, the write-ahead log included, while the gateway keeps running. PostgreSQL has pg_dump for that.
 */
export async function backupDatabase(
  databaseUrl: string,
  target: string,
  log: Logger,
  options: OpenStoreOptions = {},
): Promise<MaintenanceResult> {
  if (!databaseUrl.startsWith('sqlite:'))
    return {
      ok: false,
      message: 'the database is PostgreSQL: back it up with pg_dump --format=custom (see docs/operations.md)',
    };
  const file = resolve(target);
  if (existsSync(file)) return { ok: false, message: `${file} exists; a backup never overwrites a file` };
  // Opened as it is: a missing file would be created (an empty database, "backed up"), and a database one
  // release behind would be migrated by the command meant to keep it as it was before the upgrade.
  const source = databaseUrl.slice('sqlite:'.length);
  if (source !== ':memory:' && !existsSync(resolve(source)))
    return {
      ok: false,
      message: `no database at ${resolve(source)}: check DATABASE_URL (a relative path is read from the folder the command runs in)`,
    };
  const store = await openStore(databaseUrl, log, { ...options, migrate: false });
  try {
    await store.dataSource.query('VACUUM INTO ?', [file]);
  } finally {
    await store.close();
  }
  // On disk before it is reported done: VACUUM INTO writes the copy without syncing it.
  const copy = await open(file, 'r+');
  await copy.sync().finally(() => copy.close());
  return {
    ok: true,
    message: `backed up to ${file} (keep it as private as the database: it holds personal data)`,
  };
}

/** Applies the migrations this release knows, and stops: the gateway would do the same at start. */
export async function migrateDatabase(
  databaseUrl: string,
  log: Logger,
  options: OpenStoreOptions = {},
): Promise<MaintenanceResult> {
  const store = await openStore(databaseUrl, log, options);
  const applied = (await store.dataSource.query('SELECT name FROM migrations')) as Array<{ name: string }>;
  await store.close();
  return {
    ok: true,
    message: `the database is at this release's schema (${applied.length} migrations applied)`,
  };
}

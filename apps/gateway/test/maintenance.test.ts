import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ExamEntity, openStore } from '../src/store/index.js';
import { backupDatabase, migrateDatabase } from '../src/store/maintenance.js';
import { tempDatabaseUrl, testStoreOptions } from './support.js';

const silent = pino({ level: 'silent' });

describe('db backup and migrate', () => {
  it('backs up a running SQLite database online, including what is still in its write-ahead log', async () => {
    const url = tempDatabaseUrl();
    const live = await openStore(url, silent, testStoreOptions);
    await live.write((tx) =>
      tx.run(
        `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, candidate, state, received_at, updated_at)
         VALUES ('b-1', 't', 'cli_1', 'ev-b-1', '{}', 'pending_approval', 1, 1)`,
      ),
    );
    const target = join(url.slice('sqlite:'.length, -'gateway.sqlite'.length), 'backup.sqlite');
    const result = await backupDatabase(url, target, silent, testStoreOptions);
    expect(result).toMatchObject({ ok: true });
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(await backupDatabase(url, target, silent, testStoreOptions)).toMatchObject({
      ok: false,
      message: /exists/,
    });
    await live.close();

    const restored = await openStore(`sqlite:${target}`, silent, testStoreOptions);
    expect(await restored.dataSource.getRepository(ExamEntity).countBy({ examId: 'b-1' })).toBe(1);
    await restored.close();
  });

  it('sends PostgreSQL users to pg_dump, and migrates a new database on its own', async () => {
    expect(await backupDatabase('postgres://u@h/db', '/tmp/x', silent)).toMatchObject({
      ok: false,
      message: /pg_dump/,
    });
    expect(await migrateDatabase(tempDatabaseUrl(), silent, testStoreOptions)).toMatchObject({
      ok: true,
      message: /migrations applied/,
    });
  });
});

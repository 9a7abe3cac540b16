import { pino } from 'pino';
import sqlite3 from 'sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { timeOrderedId } from '../src/outbox/jobs.js';
import { ExamEntity, openStore, type Store } from '../src/store/index.js';
import { SqliteStatements } from '../src/store/sqlite.js';
import { runsKeptStatements, tempDatabaseUrl, testStoreOptions } from './support.js';

const silent = pino({ level: 'silent' });
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function openDatabase(): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(':memory:', (err) => (err ? reject(err) : resolve(db)));
  });
}

describe('SqliteStatements', () => {
  it('prepares a statement once and runs it again with new parameters; reports changed rows and rows read', async () => {
    const db = await openDatabase();
    let prepared = 0;
    const prepare = db.prepare.bind(db);
    db.prepare = ((...args: Parameters<typeof db.prepare>) => {
      prepared++;
      return prepare(...args);
    }) as typeof db.prepare;
    const statements = new SqliteStatements(db);
    await runsKeptStatements(statements);
    expect(prepared).toBe(3);
    await statements.finalizeAll();
    await new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
  });

  it('lets go of the least recently used statements past its limit, and the connection still closes', async () => {
    const db = await openDatabase();
    const statements = new SqliteStatements(db);
    await statements.exec('CREATE TABLE t (v INTEGER)');
    for (let i = 0; i < 600; i++) await statements.tx.all(`SELECT ${i} AS n FROM t WHERE v = ?`, [i]);
    expect(await statements.tx.all('SELECT 599 AS n')).toEqual([{ n: 599 }]);
    await statements.finalizeAll();
    await new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
  });
});

describe('the store on SQLite', () => {
  it('rolls a failed transaction back whole, and the next one commits', async () => {
    const store = await openStore(tempDatabaseUrl(), silent, testStoreOptions);
    stores.push(store);
    const insert = `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, candidate, state, received_at, updated_at)
                    VALUES (?, 't', 'a', ?, '{}', 'pending_approval', 1, 1)`;
    await expect(
      store.write(async (tx) => {
        await tx.run(insert, ['x-1', 'ev-1']);
        await tx.run('INSERT INTO no_such_table VALUES (1)');
      }),
    ).rejects.toThrow(/no such table/);
    await store.write((tx) => tx.run(insert, ['x-2', 'ev-2']));
    const ids = (await store.dataSource.getRepository(ExamEntity).find()).map((e) => e.examId);
    expect(ids).toEqual(['x-2']);
  });

  it("reports SQLite's own error, without node-sqlite3's verbose traces (which TypeORM would switch on)", async () => {
    const store = await openStore(tempDatabaseUrl(), silent, testStoreOptions);
    stores.push(store);
    const failure = await store.write((tx) => tx.all('SELECT nope FROM exams')).catch((e: Error) => e);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error & { code?: string }).code).toBe('SQLITE_ERROR');
    expect((failure as Error).stack).not.toContain('--> in Statement#');
  });
});

describe('timeOrderedId', () => {
  it('is a UUIDv7: version 7, RFC 9562 variant, the milliseconds first; later ids sort after earlier ones', () => {
    const id = timeOrderedId(Date.UTC(2026, 10, 25));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(Date.UTC(2026, 10, 25));
    const ids = Array.from({ length: 200 }, (_, i) => timeOrderedId(1_700_000_000_000 + i));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 1000 }, () => timeOrderedId(1)))).toHaveProperty('size', 1000);
  });
});

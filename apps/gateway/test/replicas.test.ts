// Several replicas on one PostgreSQL database: the races between them that a single process never has. Each
// test makes the interleaving happen (a transaction held open while the other replica's statement waits for
// it), rather than hoping for it. Runs when the suites run on PostgreSQL (TEST_DATABASE=postgres).
import { pino } from 'pino';
import { DataSource } from 'typeorm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../src/store/index.js';
import { Initial1764000000000 } from '../src/store/migrations/0001-initial.js';
import { testDatabaseUrl, testStoreOptions } from './support.js';

const onPostgres = process.env.TEST_DATABASE === 'postgres';
const silent = pino({ level: 'silent' });
const stores: Store[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function until(what: string, condition: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Whether some other session on the database waits for a lock (a row, a table, an advisory lock). */
async function someoneWaitsForALock(observer: { query(sql: string): Promise<unknown> }): Promise<boolean> {
  const rows = (await observer.query(
    `SELECT COUNT(*) AS n FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
  )) as Array<{ n: string | number }>;
  return Number(rows[0]?.n ?? 0) > 0;
}

describe.skipIf(!onPostgres)('replicas on one PostgreSQL database', () => {
  it('two replicas starting at once on a new database both start: one migrates, the other waits and finds it done', async () => {
    const url = testDatabaseUrl();
    // The first replica to run the first migration is held inside it until the second one either runs it
    // too (no lock between them) or waits for the first.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    let runs = 0;
    const up = Initial1764000000000.prototype.up;
    vi.spyOn(Initial1764000000000.prototype, 'up').mockImplementation(async function (this: unknown, q) {
      runs++;
      if (runs === 1) await held;
      else release();
      return up.call(this, q);
    });
    const first = openStore(url, silent, testStoreOptions);
    await until('the first replica to be migrating', () => runs === 1);
    const second = openStore(url, silent, testStoreOptions);
    // A plain connection to watch the others (a store, even one opened without migrating, takes the lock).
    const observer = new DataSource({ type: 'postgres', url });
    await observer.initialize();
    try {
      await until(
        'the second replica to run the migration too, or to wait for the first',
        async () => runs > 1 || (await someoneWaitsForALock(observer)),
      );
      release();
      const opened = await Promise.allSettled([first, second]);
      for (const o of opened) if (o.status === 'fulfilled') stores.push(o.value);
      expect(opened.map((o) => (o.status === 'rejected' ? String(o.reason) : 'started'))).toEqual([
        'started',
        'started',
      ]);
      expect(runs).toBe(1);
      const [a, b] = stores as [Store, Store];
      const applied = await a.reads.all<{ name: string }>('SELECT name FROM migrations');
      expect(new Set(applied.map((m) => m.name)).size).toBe(applied.length);
      expect(await b.reads.all('SELECT exam_id FROM exams')).toEqual([]);
    } finally {
      release();
      await observer.destroy();
    }
  });
});

import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { enqueueJob } from '../src/outbox/jobs.js';
import { baseEnv, holdWriteLock, startTestGateway, type TestGateway, tempDatabaseUrl } from './support.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close().catch(() => undefined)));
});

async function gateway(env: Record<string, string> = {}, overrides = {}) {
  const databaseUrl = tempDatabaseUrl();
  // These tests work on the store's own connection (PRAGMAs, a checkpoint) outside its writer. The upkeep a
  // gateway starts with (erasure, finished jobs) writes in transactions of its own, and on node-sqlite3 a
  // checkpoint while one is open fails SQLITE_LOCKED: without it, nothing else writes here.
  const noUpkeep = { RETENTION_DAYS: '0', JOB_HISTORY_DAYS: '0' };
  const gw = await startTestGateway({ DATABASE_URL: databaseUrl, ...noUpkeep, ...env }, overrides);
  gateways.push(gw);
  return Object.assign(gw, { file: databaseUrl.slice('sqlite:'.length) });
}

async function readyz(gw: TestGateway) {
  const res = await fetch(`${gw.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const admin = (gw: TestGateway, path: string, token = baseEnv.ADMIN_TOKEN) =>
  fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: token ? { authorization: `Bearer ${token}` } : {},
  }).then(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> }));

describe('/readyz: the jobs in its body', () => {
  it('counts dead, retrying and overdue jobs without changing its status; POST /admin/jobs/retry?state=dead revives every dead job', async () => {
    // No worker: the jobs stay as this test leaves them.
    const gw = await gateway({ OUTBOX_WORKER: 'off' });
    const now = Date.now();
    await gw.store.write(async (tx) => {
      for (const key of ['d1', 'd2', 'retrying', 'overdue'])
        await enqueueJob(tx, { kind: 'refresh_card', examId: key, idempotencyKey: key }, now);
      await tx.run(
        "UPDATE outbox_jobs SET state = 'dead', attempts = 1 WHERE idempotency_key IN ('d1', 'd2')",
      );
      await tx.run("UPDATE outbox_jobs SET attempts = 4, run_at = ? WHERE idempotency_key = 'retrying'", [
        now + 60_000,
      ]);
      await tx.run("UPDATE outbox_jobs SET run_at = ? WHERE idempotency_key = 'overdue'", [now - 120_000]);
    });

    const before = await readyz(gw);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ status: 'ready', jobs: { dead: 2, retrying: 1, overdue: 1 } });

    expect((await admin(gw, '/admin/jobs/retry?state=dead', '')).status).toBe(401);
    expect(await admin(gw, '/admin/jobs/retry')).toMatchObject({ status: 400, body: { code: 'bad_state' } });
    expect(await admin(gw, '/admin/jobs/retry?state=dead')).toEqual({
      status: 200,
      body: { code: 0, msg: 'queued', revived: 2 },
    });
    expect(await admin(gw, '/admin/jobs/retry?state=dead')).toMatchObject({ body: { revived: 0 } });

    const after = await readyz(gw);
    expect(after.body).toMatchObject({ jobs: { dead: 0 } });
    const revived = await gw.store.dataSource.query(
      "SELECT state, attempts FROM outbox_jobs WHERE idempotency_key IN ('d1', 'd2')",
    );
    expect(revived).toEqual([
      { state: 'pending', attempts: 0 },
      { state: 'pending', attempts: 0 },
    ]);
  });
});

describe('/readyz: a database that cannot take a write is not ready', () => {
  it('read-only: 503 with the driver code, ready again once writable', async () => {
    const gw = await gateway();
    expect((await readyz(gw)).status).toBe(200);
    await gw.store.dataSource.query('PRAGMA query_only = 1');
    expect(await readyz(gw)).toMatchObject({
      status: 503,
      body: { status: 'not_ready', database: 'failed', database_error: 'SQLITE_READONLY' },
    });
    await gw.store.dataSource.query('PRAGMA query_only = 0');
    expect((await readyz(gw)).status).toBe(200);
  });

  it('a write that does not finish (the file locked by another process, as a frozen disk would) is a 503 timeout, not a hang', async () => {
    const gw = await gateway({}, { readiness: { timeoutMs: 200 } });
    expect((await readyz(gw)).status).toBe(200);
    const release = await holdWriteLock(gw.file);
    try {
      expect(await readyz(gw)).toMatchObject({ status: 503, body: { database: 'timeout' } });
      // A second look while the first probe is still stuck waits on the same probe.
      expect(await readyz(gw)).toMatchObject({ status: 503, body: { database: 'timeout' } });
    } finally {
      await release();
    }
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await readyz(gw)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
  });

  it('a corrupted file: 503, although the connection still answers from its cache', async () => {
    const gw = await gateway({ OUTBOX_WORKER: 'off' });
    expect((await readyz(gw)).status).toBe(200);
    await gw.store.dataSource.query('PRAGMA wal_checkpoint(TRUNCATE)');
    const size = statSync(gw.file).size;
    const fd = openSync(gw.file, 'r+');
    writeSync(fd, Buffer.alloc(size, 0x41), 0, size, 0);
    closeSync(fd);
    expect(await gw.store.dataSource.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(await readyz(gw)).toMatchObject({
      status: 503,
      body: { database: 'failed', database_error: 'SQLITE_NOTADB' },
    });
  });

  it('a full disk: 503 disk_full', async () => {
    let free = 10 * 1024 ** 3;
    const gw = await gateway({}, { readiness: { freeBytes: async () => free } });
    expect((await readyz(gw)).status).toBe(200);
    free = 1024 * 1024;
    expect(await readyz(gw)).toMatchObject({ status: 503, body: { database: 'disk_full' } });
  });
});

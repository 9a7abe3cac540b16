// A SIGTERM whose 10 s bound cuts a job in flight.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { envelopeV2, seal } from '@feishu-exam/event-core';
import BetterSqlite3 from 'better-sqlite3';
import { expect, it } from 'vitest';
import { baseEnv, post, secrets, tempDatabaseUrl } from './support.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

it('a SIGTERM that cuts a job in flight at the 10 s bound releases its lease: the next process (or a replica) runs it at once, not a lease later', async () => {
  // The Open Platform takes the connection and never answers (a call lasts FEISHU_TIMEOUT_MS, longer than the bound).
  const sockets: Socket[] = [];
  const feishu = createServer((s) => void sockets.push(s)).listen(0, '127.0.0.1');
  await once(feishu, 'listening');
  const { port } = feishu.address() as { port: number };
  const databaseUrl = tempDatabaseUrl();
  const file = databaseUrl.slice('sqlite:'.length);
  const child = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH ?? '',
      ...baseEnv,
      LOG_LEVEL: 'info',
      DATABASE_URL: databaseUrl,
      FEISHU_DOMAIN: `http://127.0.0.1:${port}`,
      FEISHU_TIMEOUT_MS: '60000',
    },
    stdio: 'pipe',
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = once(child, 'exit');
  try {
    while (!output.includes('"gateway listening"')) await new Promise((r) => setTimeout(r, 25));
    const line = output.split('\n').find((l) => l.includes('"gateway listening"')) as string;
    const { url } = JSON.parse(line) as { url: string };
    const sealed = seal(
      envelopeV2('hire.eco_exam.created_v1', { exam_id: 'cut-1' }, { token: secrets.verificationToken }),
      { encryptKey: secrets.encryptKey },
    );
    expect((await post(`${url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
    const db = new BetterSqlite3(file, { readonly: true });
    // The exam's card, queued on its row (outbox/card-queue.ts), taken by the worker.
    const running = () =>
      db.prepare("SELECT 1 FROM exams WHERE exam_id = 'cut-1' AND card_locked_by IS NOT NULL").all().length;
    while (running() === 0) await new Promise((r) => setTimeout(r, 25));
    db.close();
    child.kill('SIGTERM');
    await exited;
  } finally {
    child.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    feishu.close();
  }
  const db = new BetterSqlite3(file, { readonly: true });
  const card = db.prepare("SELECT card_due_at AS dueAt FROM exams WHERE exam_id = 'cut-1'").get() as {
    dueAt: number | null;
  };
  const jobs = db.prepare("SELECT COUNT(*) AS n FROM outbox_jobs WHERE kind = 'post_card'").get() as {
    n: number;
  };
  db.close();
  // Still queued (not posted, not handed to a job), and due at once: still leased to the process that exited,
  // its card would wait out the lease (120 s here) after any restart.
  expect(card.dueAt).not.toBeNull();
  expect(jobs.n).toBe(0);
  const leasedFor = (card.dueAt ?? 0) - Date.now();
  expect(leasedFor > 0 ? `leased ${Math.round(leasedFor / 1000)} s more` : 'released').toBe('released');
}, 30_000);

// Prototype (issue 11, goal 3): the append-only inbox, on the store alone. Arrivals in batches of BATCH (default
// 25, about what 32 connections give) either go straight into exams, events and jobs (`direct`: what
// ExamIngest does), or are appended to an inbox table and synced (the acknowledgement), then turned into exams,
// events and jobs lazily in batches of CONSUME (default 100) by examLifecycle.receiveMany, the inbox rows
// deleted in the same transaction (`inbox`). Prints the process's CPU per arrival (all threads) for each, in
// interleaved rounds. Ids are random here (event ids are; exam ids too, the worst case for the indexes).
//   cd apps/gateway && node bench/prototype/inbox.mjs
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore } from '../../dist/store/index.js';
import { examLifecycle } from '../../dist/workflow/exam-lifecycle.js';

const BATCH = Number(process.env.BATCH ?? 25);
const CONSUME = Number(process.env.CONSUME ?? 100);
const ARRIVALS = Number(process.env.ARRIVALS ?? 12_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
/** About the size of a sealed push's body, which the inbox keeps. */
const BODY_BYTES = 1_400;

const event = () => ({
  id: randomBytes(16).toString('hex'),
  type: 'hire.eco_exam.created_v1',
  tenantKey: 'tenant-1',
  appId: 'cli_x',
  payload: {
    exam_id: randomUUID().slice(0, 20),
    account_id: 'acc-1',
    paper_id: 'paper-1',
    candidate_info: { name: '候选人', email: 'c@example.com', mobile: { code: '86', number: '13800000000' } },
  },
});

async function freshStore() {
  const file = join(mkdtempSync(join(tmpdir(), 'feishu-exam-inbox-')), 'store.sqlite');
  const store = await openStore(`sqlite:${file}`, pino({ level: 'silent' }));
  await store.write((tx) =>
    tx.run(
      'CREATE TABLE inbox (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL)',
    ),
  );
  return store;
}

async function direct(events) {
  const store = await freshStore();
  const cpu = process.cpuUsage();
  for (let i = 0; i < events.length; i += BATCH) {
    const batch = events.slice(i, i + BATCH);
    await store.write((tx) => examLifecycle.receiveMany(tx, batch, Date.now()));
  }
  const used = process.cpuUsage(cpu);
  await store.close();
  return (used.user + used.system) / events.length;
}

async function inbox(events) {
  const store = await freshStore();
  const body = randomBytes((BODY_BYTES * 3) / 4).toString('base64');
  const waiting = [];
  let seq = 0;
  const consume = async () => {
    const batch = waiting.splice(0);
    const last = batch.at(-1).seq;
    await store.write(
      async (tx) => {
        await examLifecycle.receiveMany(
          tx,
          batch.map((b) => b.event),
          Date.now(),
        );
        await tx.run('DELETE FROM inbox WHERE seq <= ?', [last]);
      },
      { durability: 'lazy' },
    );
  };
  const cpu = process.cpuUsage();
  for (let i = 0; i < events.length; i += BATCH) {
    const batch = events.slice(i, i + BATCH).map((e) => ({ event: e, seq: ++seq }));
    await store.write((tx) =>
      tx.run(
        `INSERT INTO inbox (seq, event_id, body, received_at) VALUES ${batch.map(() => '(?, ?, ?, ?)').join(', ')}`,
        batch.flatMap((b) => [b.seq, b.event.id, body, Date.now()]),
      ),
    );
    waiting.push(...batch);
    if (waiting.length >= CONSUME) await consume();
  }
  if (waiting.length > 0) await consume();
  const used = process.cpuUsage(cpu);
  await store.close();
  return (used.user + used.system) / events.length;
}

console.log(
  `${ARRIVALS.toLocaleString('en-US')} arrivals in batches of ${BATCH}; inbox consumed in batches of ${CONSUME}; CPU µs per arrival (all threads)`,
);
// Unmeasured: V8 compiles both paths first (the first round ran ~1.5× slower).
await direct(Array.from({ length: 3_000 }, event));
await inbox(Array.from({ length: 3_000 }, event));
for (let round = 1; round <= ROUNDS; round++) {
  const a = await direct(Array.from({ length: ARRIVALS }, event));
  const b = await inbox(Array.from({ length: ARRIVALS }, event));
  console.log(`round ${round}: direct ${a.toFixed(1)}   inbox ${b.toFixed(1)}`);
}

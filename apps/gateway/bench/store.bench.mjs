// The durable store alone: ExamIngest (group commit, four statements a batch, kept prepared) with 32
// concurrent producers, in process, with no HTTP, logging or worker. The ceiling the webhook's durable
// ingest can approach.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore } from '../dist/store/index.js';
import { ExamIngest } from '../dist/workflow/ingest.js';

const EVENTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const store = await openStore(
  `sqlite:${join(mkdtempSync(join(tmpdir(), 'feishu-exam-store-')), 'store.sqlite')}`,
  pino({ level: 'silent' }),
);
let batches = 0;
const write = store.write;
store.write = (work) => {
  batches++;
  return write(work);
};
const ingest = new ExamIngest(store, Date.now, () => {});
const event = (i) => ({
  id: `ev-${i}`,
  type: 'hire.eco_exam.created_v1',
  tenantKey: 't',
  appId: 'cli_bench',
  payload: { exam_id: `exam-${i}`, candidate_info: { name: '候选人' } },
});
let next = 0;
const started = process.hrtime.bigint();
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (next < EVENTS) await ingest.receive(event(next++));
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
await store.close();
console.log(
  `store alone (ExamIngest, SQLite WAL, synchronous=FULL, 32 producers): ${Math.round(EVENTS / seconds).toLocaleString('en-US')} events/s, ` +
    `${batches} commits, ${(EVENTS / batches).toFixed(1)} events per commit, ${((seconds * 1000) / batches).toFixed(2)} ms per commit`,
);

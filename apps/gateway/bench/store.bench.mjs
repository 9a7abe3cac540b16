// The durable store alone: ExamIngest (group commit, four statements a batch, kept prepared) with 32
// concurrent producers, in process, with no HTTP, logging or worker. The ceiling the webhook's durable
// ingest can approach. Ids as Feishu's: event ids 32 random hex digits (each arrival's entry lands on a page of
// its own; sequential ones appended to every index and hid that), exam ids 19-digit time-ordered snowflakes.
//
// Then the write-ahead log's growth over BENCH_WAL_EVENTS more arrivals, with the automatic checkpoint off
// so that the log keeps every frame: how many 4 KiB pages each arrival makes SQLite write (and sync).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore } from '../dist/store/index.js';
import { ExamIngest } from '../dist/workflow/ingest.js';

const EVENTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const WAL_EVENTS = Number(process.env.BENCH_WAL_EVENTS ?? 2_000);
const file = join(mkdtempSync(join(tmpdir(), 'feishu-exam-store-')), 'store.sqlite');
const store = await openStore(`sqlite:${file}`, pino({ level: 'silent' }));
let batches = 0;
const write = store.write;
store.write = (work, options) => {
  batches++;
  return write(work, options);
};
const ingest = new ExamIngest(store, Date.now, () => {});
let sequence = 0;
const examId = () => String((BigInt(Date.now()) << 22n) | BigInt(sequence++ & 0x3fffff));
const event = () => ({
  id: randomBytes(16).toString('hex'),
  type: 'hire.eco_exam.created_v1',
  tenantKey: 't',
  appId: 'cli_bench',
  payload: { exam_id: examId(), candidate_info: { name: '候选人', email: 'c@example.com' } },
});

/** `count` arrivals from 32 concurrent producers; the wall time, CPU (all threads) and commits they took. */
async function arrive(count) {
  const events = Array.from({ length: count }, event);
  let next = 0;
  const commitsBefore = batches;
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) await ingest.receive(events[next++]);
    }),
  );
  const used = process.cpuUsage(cpu);
  return {
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    cpuMicros: used.user + used.system,
    commits: batches - commitsBefore,
  };
}

const run = await arrive(EVENTS);
console.log(
  `store alone (ExamIngest, SQLite WAL, synchronous=FULL, 32 producers): ${Math.round(EVENTS / run.seconds).toLocaleString('en-US')} events/s, ` +
    `${run.commits} commits, ${(EVENTS / run.commits).toFixed(1)} events per commit, ${((run.seconds * 1000) / run.commits).toFixed(2)} ms per commit, ` +
    `CPU ${Math.round(run.cpuMicros / EVENTS)} µs per event (all threads)`,
);

await store.reads.all('PRAGMA wal_autocheckpoint = 0');
await store.reads.all('PRAGMA wal_checkpoint(TRUNCATE)');
const walBefore = statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
const walRun = await arrive(WAL_EVENTS);
// A frame is a 24-byte header and a page; the log's own header is 32 bytes.
const pageSize = Number((await store.reads.all('PRAGMA page_size'))[0].page_size);
const frames = (statSync(`${file}-wal`).size - Math.max(walBefore, 32)) / (pageSize + 24);
console.log(
  `write-ahead log: ${(frames / WAL_EVENTS).toFixed(2)} pages of ${pageSize} bytes per arrival, ` +
    `${(frames / walRun.commits).toFixed(1)} per commit (${WAL_EVENTS.toLocaleString('en-US')} more arrivals over ${EVENTS.toLocaleString('en-US')}, automatic checkpoint off)`,
);
await store.close();

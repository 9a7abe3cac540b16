// What the gateway's reads over every exam stored cost as the history grows, and what the indexes that bound
// them cost each exam. The reads: the result-poll round (every RESULT_POLL_INTERVAL_MS, 10 min by default:
// arranged exams without a result, of platforms that can be asked, arranged within RESULT_POLL_DAYS), the
// erasure (hourly: ended exams past RETENTION_DAYS whose personal data is still kept), the console's first
// page of exams (GET /admin/exams, /admin/ui: newest first), a console search that matches nothing, and the
// tenants' exam counts (GET /admin/tenants, /admin/ui). Each runs in a write transaction, and on
// better-sqlite3 in the main thread: the event loop and every write wait meanwhile.
//
// Two databases with the same rows, the schema as migrated ("now") and the same without the indexes of
// migrations 0013 and 0014 ("before": the scans walk idx_exams_state, the console sorts every exam): EXAMS ended
// exams from long ago (erased, 2 % never sat and so without a result) and LIVE recent ones (ended, not yet
// erased, a tenth arranged without a result). Each round runs examLifecycle.queueResultPolls,
// examLifecycle.erasePersonalData and listExams as the gateway does, rolled back (so every round finds the same
// work); then the exam loop's writes (arrival, card, decision, arrangement, login info, result) for LOOP_EXAMS
// new exams in one transaction, CPU per exam. The databases take turns. Prints figures only.
//   cd apps/gateway && pnpm build && node bench/history-scans.mjs   (EXAMS=1000000 LIVE=2000 ROUNDS=5;
//   BENCH_DATABASE=postgres for a throw-away PostgreSQL cluster, see scripts/bench-database.mjs)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envelopeV2, parse, seal } from '@feishu-exam/event-core';
import { pino } from 'pino';
import { benchDatabase } from '../../../scripts/bench-database.mjs';
import { listExams } from '../dist/http/admin-exams.js';
import { openStore } from '../dist/store/index.js';
import { examLifecycle } from '../dist/workflow/exam-lifecycle.js';
import { tenancy } from '../dist/workflow/tenants.js';

const EXAMS = Number(process.env.EXAMS ?? 1_000_000);
const LIVE = Number(process.env.LIVE ?? 2_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
/** Of the LIVE exams, how many are due for erasure (DUE): an hour's worth at 2,400 exams a day. */
const DUE = Number(process.env.DUE ?? 100);
/** New exams taken through the loop's writes per database and round. */
const LOOP_EXAMS = Number(process.env.LOOP_EXAMS ?? 1000);
const DAY_MS = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);
/** The gateway's defaults: RESULT_POLL_DAYS 30, RETENTION_DAYS 180 (config.ts). */
const POLL_SINCE = NOW - 30 * DAY_MS;
const ERASE_BEFORE = NOW - 180 * DAY_MS;
const silent = pino({ level: 'silent' });

const dir = mkdtempSync(join(tmpdir(), 'history-scans-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const database = await benchDatabase(dir);

const COLUMNS = [
  'exam_id',
  'tenant_key',
  'app_id',
  'event_id',
  'candidate',
  'state',
  'arrangement',
  'login_info_reported_at',
  'received_at',
  'updated_at',
  'result',
  'result_reported_at',
  'provider_id',
  'personal_data_erased_at',
];

/**
 * The i-th stored exam: old ones ended and erased; the last LIVE ended recently and not yet erased, of which the
 * first DUE ended an hour before the retention's limit (the next erasure round's work).
 */
function storedExam(i) {
  const live = i >= EXAMS;
  const due = live && i - EXAMS < DUE;
  const at = due
    ? ERASE_BEFORE - 3_600_000
    : live
      ? NOW - ((i - EXAMS) % 20) * DAY_MS - 1
      : ERASE_BEFORE - (1 + (i % 1000)) * DAY_MS;
  const kind = i % 100;
  const state = kind < 8 ? 'rejected' : kind < 13 ? 'failed' : 'arranged';
  // Never sat: 2 % of the old exams, a tenth of the live ones.
  const noResult = state === 'arranged' && (live ? i % 10 === 0 : kind >= 98);
  const hasResult = state === 'arranged' && !noResult;
  return [
    `7147${String(i).padStart(15, '0')}`,
    `tenant-${i % 40}`,
    'cli_bench',
    `ev_${i}`,
    live ? '{"name":"候选人","email":"c@example.com"}' : '{"name":"候选人"}',
    state,
    state === 'arranged' ? '{"examUrl":"https://e.example/x"}' : null,
    state === 'arranged' ? at : null,
    at - 3_600_000,
    at,
    hasResult ? '{"score":"80"}' : null,
    hasResult ? at : null,
    state === 'arranged' ? 'asked' : null,
    live ? null : at + 1000,
  ];
}

async function filled(scenario) {
  const store = await openStore(database.fresh(scenario), silent);
  const perStatement = 500;
  const total = EXAMS + LIVE;
  for (let start = 0; start < total; start += perStatement * 20) {
    await store.write(async (tx) => {
      for (let s = start; s < Math.min(total, start + perStatement * 20); s += perStatement) {
        const rows = [];
        for (let i = s; i < Math.min(total, s + perStatement); i++) rows.push(storedExam(i));
        let n = 0;
        const values = rows
          .map(() => `(${COLUMNS.map(() => (database.dialect === 'postgres' ? `$${++n}` : '?')).join(', ')})`)
          .join(', ');
        await tx.run(`INSERT INTO exams (${COLUMNS.join(', ')}) VALUES ${values}`, rows.flat());
      }
    });
  }
  return store;
}

class RolledBack extends Error {}
/** Runs `work` in a write transaction and rolls it back; returns its result and the wall time in ms. */
async function rolledBack(store, work) {
  let result;
  const started = performance.now();
  try {
    await store.write(async (tx) => {
      result = await work(tx);
      throw new RolledBack();
    });
  } catch (error) {
    if (!(error instanceof RolledBack)) throw error;
  }
  return { result, ms: performance.now() - started };
}

/** A hire.eco_exam.created_v1 event as event-core reads it from a push. */
function examCreated(examId, i) {
  const envelope = envelopeV2(
    'hire.eco_exam.created_v1',
    {
      exam_id: examId,
      account_id: 'acc-1',
      paper_id: 'paper-1',
      candidate_info: {
        name: '候选人',
        mobile: { code: '86', number: '18900000000' },
        email: 'c@example.com',
      },
    },
    { eventId: `ev_loop_${i}`, tenantKey: 'tenant-1', appId: 'cli_bench' },
  );
  const read = parse(seal(envelope), {});
  if (!read.ok || read.kind !== 'event') throw new Error('the bench event does not parse');
  return read.event;
}

/**
 * The exam loop's writes for `count` new exams, all in one transaction (what is timed is the statements and the
 * indexes they update, not a commit and its sync per step); CPU µs per exam.
 */
async function loopWrites(store, first, count) {
  const ids = Array.from({ length: count }, (_, k) => `8147${String(first + k).padStart(15, '0')}`);
  const events = ids.map((id, k) => examCreated(id, first + k));
  const before = process.cpuUsage();
  await store.write(async (tx) => {
    for (const [k, event] of events.entries()) {
      const ref = { tenantKey: 'tenant-1', examId: ids[k] };
      const t = NOW + first + k;
      await examLifecycle.receive(tx, event, t);
      await examLifecycle.cardPosted(tx, ref, `om_${first + k}`, t + 1);
      await examLifecycle.approve(tx, ref, 'ou_staff', t + 2);
      await examLifecycle.arrangementMade(tx, ref, 'asked', { examUrl: 'https://e.example/1' }, t + 3);
      await examLifecycle.loginInfoReported(tx, ref, t + 4);
      await examLifecycle.resultReceived(tx, ref, 'asked', { score: '80' }, t + 5);
    }
  });
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

console.log(
  `${database.label}: ${EXAMS.toLocaleString('en-US')} erased exams from long ago and ${LIVE.toLocaleString('en-US')} recent ones; ${ROUNDS} rounds in turns, medians (range)`,
);
const fillStarted = performance.now();
const stores = { now: await filled('now'), before: await filled('before') };
await stores.before.write(async (tx) => {
  await tx.run('DROP INDEX idx_exams_awaiting_result');
  await tx.run('DROP INDEX idx_exams_unerased');
  await tx.run('DROP INDEX idx_exams_received');
});
console.log(`filled in ${((performance.now() - fillStarted) / 1000).toFixed(0)} s`);

const figures = Object.fromEntries(
  Object.keys(stores).map((k) => [
    k,
    { poll: [], erase: [], consolePage: [], consoleSearch: [], tenants: [], loop: [] },
  ]),
);
const found = {};
// Round -1 warms up (V8 compiles the paths, SQLite reads the pages) and is not counted.
for (let round = -1; round < ROUNDS; round++) {
  for (const [name, store] of Object.entries(stores)) {
    const poll = await rolledBack(store, (tx) =>
      examLifecycle.queueResultPolls(tx, `r${round}`, NOW, ['asked'], POLL_SINCE),
    );
    const erase = await rolledBack(store, (tx) => examLifecycle.erasePersonalData(tx, ERASE_BEFORE, NOW));
    // The console's first page (GET /admin/exams, /admin/ui), as the admin routes run it (migration 0014).
    const consolePage = await rolledBack(store, (tx) => listExams(tx, { limit: 50 }, NOW));
    // A search that matches nothing (session 22: at most SEARCH_WINDOW exams looked through a page), and the
    // tenants' exam counts (open states, and ended ones of the last days).
    const consoleSearch = await rolledBack(store, (tx) => listExams(tx, { limit: 50, q: 'no-such-id' }, NOW));
    const tenants = await rolledBack(store, (tx) => tenancy.list(tx, undefined, NOW));
    const loop = await loopWrites(
      store,
      ((round + 1) * 2 + (name === 'now' ? 0 : 1)) * LOOP_EXAMS,
      LOOP_EXAMS,
    );
    if (round < 0) continue;
    figures[name].poll.push(poll.ms);
    figures[name].erase.push(erase.ms);
    figures[name].consolePage.push(consolePage.ms);
    figures[name].consoleSearch.push(consoleSearch.ms);
    figures[name].tenants.push(tenants.ms);
    figures[name].loop.push(loop);
    found[name] = `${poll.result} polls queued, ${erase.result} erased`;
  }
}
const range = (xs, digits) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
for (const [name, f] of Object.entries(figures)) {
  console.log(
    `  ${name.padEnd(6)} result-poll round ${range(f.poll, 1)} ms   erasure round ${range(f.erase, 1)} ms   console page ${range(f.consolePage, 1)} ms   search for nothing ${range(f.consoleSearch, 1)} ms   tenants ${range(f.tenants, 1)} ms   the loop's writes ${range(f.loop, 0)} µs CPU per exam   (${found[name]})`,
  );
}
for (const store of Object.values(stores)) await store.close();

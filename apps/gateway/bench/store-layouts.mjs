// The store's share of an exam's arrival, by table layout (issue 11, goal 3): the two INSERTs of ExamIngest's
// batch (exams with RETURNING, then outbox_jobs) and a commit, on the schema as the migrations leave it and on
// variants of it: a table WITHOUT ROWID (the primary key is the table, one B-tree fewer), without the exams'
// state index, with pages of 2, 8 or 16 KiB instead of 4 (fewer frames in the log per commit, but larger), or
// with no outbox_jobs row at all (`examOnly`: the exam row alone, what an arrival would cost if the exam row
// were its card's outbox entry, the most that design could save; not a working store). CPU per row (all threads, process.cpuUsage) for each, every database open at once and the layouts
// taking turns in blocks of BLOCK batches (10), so that the machine's changes of speed fall on all of them alike.
// Exam ids time-ordered as Feishu's, job ids as timeOrderedId's. The log is not synced (what differs is the
// writing, not the disk). Prints figures only.
//   cd apps/gateway && node bench/store-layouts.mjs   (V=base,both BATCH=16 BATCHES=2000 BLOCK=10 ROUNDS=4)

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** The two tables an exam's arrival writes, as the migrations leave them on SQLite (`.schema exams outbox_jobs`). */
const base = `
CREATE TABLE "outbox_jobs" ("id" varchar(64) PRIMARY KEY NOT NULL, "kind" varchar(64) NOT NULL, "exam_id" varchar(128), "payload" text NOT NULL, "idempotency_key" varchar(255) NOT NULL, "state" varchar(16) NOT NULL, "attempts" integer NOT NULL, "max_attempts" integer NOT NULL, "run_at" bigint NOT NULL, "locked_until" bigint, "locked_by" varchar(64), "last_error" text, "created_at" bigint NOT NULL, "updated_at" bigint NOT NULL, "tenant_key" varchar(128), CONSTRAINT "UQ_b4ad70ad20ef9e112360828cf66" UNIQUE ("idempotency_key"));
CREATE INDEX "idx_outbox_due" ON "outbox_jobs" ("state", "run_at") ;
CREATE TABLE "exams" ("exam_id" varchar(128) NOT NULL, "tenant_key" varchar(128) NOT NULL, "app_id" varchar(128) NOT NULL, "event_id" varchar(128) NOT NULL, "account_id" varchar(128), "paper_id" varchar(255), "talent_id" varchar(128), "application_id" varchar(128), "candidate" text NOT NULL, "state" varchar(32) NOT NULL, "decided_by" varchar(128), "decided_at" bigint, "reject_reason" text, "arrangement" text, "failure_reason" text, "card_message_id" varchar(128), "login_info_reported_at" bigint, "received_at" bigint NOT NULL, "updated_at" bigint NOT NULL, "result" text, "result_reported_at" bigint, "provider_id" varchar(128), "personal_data_erased_at" bigint, card_posted_at bigint, PRIMARY KEY ("exam_id", "tenant_key"));
CREATE INDEX "idx_exams_state" ON "exams" ("state") ;
CREATE INDEX idx_outbox_lease ON outbox_jobs (locked_until) WHERE state = 'running';
`;
const variants = {
  base: base,
  examsNoRowid: base.replace(
    `PRIMARY KEY ("exam_id", "tenant_key"));`,
    `PRIMARY KEY ("exam_id", "tenant_key")) WITHOUT ROWID;`,
  ),
  jobsNoRowid: base.replace(`UNIQUE ("idempotency_key"));`, `UNIQUE ("idempotency_key")) WITHOUT ROWID;`),
  both: base
    .replace(
      `PRIMARY KEY ("exam_id", "tenant_key"));`,
      `PRIMARY KEY ("exam_id", "tenant_key")) WITHOUT ROWID;`,
    )
    .replace(`UNIQUE ("idempotency_key"));`, `UNIQUE ("idempotency_key")) WITHOUT ROWID;`),
  noStateIdx: base.replace(`CREATE INDEX "idx_exams_state" ON "exams" ("state") ;`, ''),
  pages2k: base,
  pages8k: base,
  pages16k: base,
  examOnly: base,
};
/** The page size of the layouts that set one (before the first table: it cannot change after, in WAL mode). */
const pageSize = { pages2k: 2048, pages8k: 8192, pages16k: 16384 };
const BATCH = Number(process.env.BATCH ?? 16),
  BATCHES = Number(process.env.BATCHES ?? 3000);
function examSql(n) {
  return `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, account_id, paper_id, talent_id, application_id, candidate, state, received_at, updated_at) VALUES ${Array(n).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending_approval', ?, ?)").join(', ')} ON CONFLICT DO NOTHING RETURNING tenant_key, exam_id`;
}
function jobSql(n) {
  return `INSERT INTO outbox_jobs (id, kind, exam_id, payload, tenant_key, idempotency_key, state, attempts, max_attempts, run_at, locked_until, locked_by, last_error, created_at, updated_at) VALUES ${Array(n).fill("(?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, NULL, NULL, NULL, ?, ?)").join(', ')} ON CONFLICT DO NOTHING`;
}
let seq = 7147998241542539527n;
function open(name) {
  const dir = mkdtempSync(join(tmpdir(), 'bt-'));
  const db = new Database(join(dir, 'x.sqlite'));
  if (pageSize[name]) db.pragma(`page_size = ${pageSize[name]}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(variants[name]);
  const ex = db.prepare(examSql(BATCH)),
    jb = db.prepare(jobSql(BATCH));
  const begin = db.prepare('BEGIN IMMEDIATE'),
    commit = db.prepare('COMMIT');
  const once = () => {
    const now = Date.now();
    const ep = [],
      jp = [];
    for (let i = 0; i < BATCH; i++) {
      const id = String(seq++);
      ep.push(
        id,
        '2ca1d211f64f6438',
        'cli_x',
        randomUUID().replace(/-/g, ''),
        'acc-1',
        'paper-1',
        'talent-1',
        'app-1',
        JSON.stringify({
          name: '张三',
          mobileCode: '+86',
          mobileNumber: '13812345678',
          email: 'zhangsan@example.com',
        }),
        now,
        now,
      );
      const ms = now.toString(16).padStart(12, '0');
      const r = randomUUID();
      jp.push(
        `${ms.slice(0, 8)}-${ms.slice(8)}-7${r.slice(15, 18)}-${r.slice(19)}`,
        'post_card',
        id,
        '{}',
        '2ca1d211f64f6438',
        `post_card:2ca1d211f64f6438:${id}`,
        0,
        now,
        now,
        now,
      );
    }
    begin.run();
    ex.all(...ep);
    if (name !== 'examOnly') jb.run(...jp);
    commit.run();
  };
  return {
    once,
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
const names = (process.env.V ?? Object.keys(variants).join(',')).split(',');
const dbs = Object.fromEntries(names.map((n) => [n, open(n)]));
for (const n of names) for (let i = 0; i < 500; i++) dbs[n].once();
const BLOCK = Number(process.env.BLOCK ?? 10);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
for (let r = 0; r < ROUNDS; r++) {
  const cpu = Object.fromEntries(names.map((n) => [n, 0]));
  for (let b = 0; b < BATCHES / BLOCK; b++) {
    // Each block starts with the next layout: none always runs right after another.
    for (const n of names.map((_, i) => names[(i + b) % names.length])) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < BLOCK; i++) dbs[n].once();
      const c = process.cpuUsage(c0);
      cpu[n] += c.user + c.system;
    }
  }
  console.log(
    `round ${r + 1}: ${names.map((n) => `${n} ${(cpu[n] / (BATCHES * BATCH)).toFixed(2)}`).join('  ')}`,
    'µs/row',
  );
}
for (const n of names) dbs[n].close();

// Prototype (issue 11, goal 3): the leanest durable ingest on the project's stack, run by bench/ingest.bench.mjs
// beside the SDK and the gateway (its "(p)" rows). Koa + @koa/router, the raw body, event-core's parse (verify,
// decrypt, validate), one info line per push (pino, asynchronous destination), and the push made durable before
// the 200, by PROTO_STORE:
//   inbox     appended to an append-only table (rowid, no other index): the design the issue suggests, with the
//             dedupe by event id left to the consumer that would turn the inbox into exams and jobs (not run)
//   consumed  the same, with that consumer running: a worker thread of this process (inbox-consumer.mjs) turns
//             the inbox into exams and card jobs with the gateway's own code, every PROTO_CONSUME_MS (5) after a
//             commit, so that its CPU counts with the push's. The inbox keeps the event's fields and payload as
//             JSON (not the sealed body: the consumer does not decrypt again). PROTO_REPORT=<file>: at the end,
//             what is left in the inbox and how many exams and jobs were made (to check that it kept up).
//   keyed     the inbox keyed by the event id (a random 32-hex string from Feishu): dedupe at the door
//   none      nothing stored (Koa + event-core + the log line alone)
// better-sqlite3 in WAL with synchronous=NORMAL and the log synced on libuv's pool (as the gateway's
// wal-sync.ts); group commit: one commit and its sync at a time, and every push that arrives meanwhile goes into
// the next. No metrics, no access log, no dispatcher, no error boundary: the floor, not a product.
// PROTO_HTTP=node serves the push with node:http alone (no Koa, no router): the issue measured such a prototype
// at 1.30x the SDK's throughput, and this shows what Koa itself costs the floor.
// Prints {"msg":"gateway listening","url":…} when ready, as the gateway does.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { parse } from '@feishu-exam/event-core';
import Router from '@koa/router';
import Database from 'better-sqlite3';
import Koa from 'koa';
import { pino } from 'pino';

const STORE = process.env.PROTO_STORE ?? 'inbox';
if (!['inbox', 'keyed', 'consumed', 'none'].includes(STORE))
  throw new Error(`PROTO_STORE=${STORE}: inbox, keyed, consumed or none`);
const HTTP = process.env.PROTO_HTTP ?? 'koa';
if (!['koa', 'node'].includes(HTTP)) throw new Error(`PROTO_HTTP=${HTTP}: koa or node`);
const secrets = {
  encryptKey: process.env.FEISHU_ENCRYPT_KEY,
  verificationToken: process.env.FEISHU_VERIFICATION_TOKEN,
};
const log = pino({ level: 'info' }, pino.destination({ dest: 1, sync: false }));

const dir = mkdtempSync(join(tmpdir(), 'proto-ingest-'));
const file = join(dir, 'inbox.sqlite');
// Each run's inbox is gone with the run (the bench starts three prototypes per round).
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
// consumed: the inbox turned into exams and jobs by a worker thread (inbox-consumer.mjs), which makes the tables.
const MAIN = 1;
const FREE = 0;
const lock = STORE === 'consumed' ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
const consumer =
  STORE === 'consumed'
    ? new Worker(new URL('./inbox-consumer.mjs', import.meta.url), {
        workerData: { file, lock: lock.buffer, everyMs: Number(process.env.PROTO_CONSUME_MS ?? 5) },
      })
    : undefined;
if (consumer) await new Promise((ready, failed) => consumer.once('message', ready).once('error', failed));
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
if (STORE !== 'consumed')
  db.exec(
    STORE === 'keyed'
      ? 'CREATE TABLE inbox (event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL) WITHOUT ROWID'
      : 'CREATE TABLE inbox (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, event_type TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL)',
  );
const insert = db.prepare(
  STORE === 'keyed'
    ? 'INSERT INTO inbox VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'
    : STORE === 'consumed'
      ? 'INSERT INTO inbox (event_id, tenant_key, app_id, payload, received_at) VALUES (?, ?, ?, ?, ?)'
      : 'INSERT INTO inbox (event_id, event_type, body, received_at) VALUES (?, ?, ?, ?)',
);
const commitBatch = db.transaction((batch, now) => {
  if (STORE === 'consumed')
    for (const w of batch)
      insert.run(
        w.event.id,
        w.event.tenantKey ?? null,
        w.event.appId ?? null,
        JSON.stringify(w.event.payload),
        now,
      );
  else for (const w of batch) insert.run(w.event.id, w.event.type, w.body, now);
});
const wal = await open(`${file}-wal`, 'r+');

let waiting = [];
let committing = false;
/** Resolves once the push is committed and the log synced. */
function durable(event, body) {
  return new Promise((resolve, reject) => {
    waiting.push({ event, body, resolve, reject });
    if (committing) return;
    committing = true;
    setImmediate(commitWaiting);
  });
}
async function commitWaiting() {
  while (waiting.length > 0) {
    // The consumer is writing: try again on the next turn (more pushes may join meanwhile), never wait here.
    if (lock && Atomics.compareExchange(lock, 0, FREE, MAIN) !== FREE) {
      await new Promise((turn) => setImmediate(turn));
      continue;
    }
    const batch = waiting;
    waiting = [];
    try {
      try {
        commitBatch(batch, Date.now());
      } finally {
        if (lock) {
          Atomics.store(lock, 0, FREE);
          Atomics.notify(lock, 0);
        }
      }
      consumer?.postMessage(0);
      await wal.datasync();
      for (const w of batch) w.resolve();
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
  committing = false;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const ACK = { code: 0, msg: 'success' };
const ACK_TEXT = JSON.stringify(ACK);
/** The push itself, whatever serves it: the status and JSON body to answer with. */
async function take(req) {
  const rawBody = await readBody(req);
  const result = parse({ headers: req.headers, rawBody }, secrets);
  if (!result.ok) return [result.error.status, { code: result.error.code, message: result.error.message }];
  if (result.kind === 'challenge') return [200, { challenge: result.challenge }];
  const event = result.event;
  if (STORE !== 'none') await durable(event, rawBody.toString('latin1'));
  log.info(
    { eventId: event.id, examId: event.payload?.exam_id, tenantKey: event.tenantKey },
    'exam received',
  );
  return [200, ACK];
}

let server;
if (HTTP === 'koa') {
  const router = new Router();
  router.post('/webhook/event', async (ctx) => {
    [ctx.status, ctx.body] = await take(ctx.req);
  });
  const app = new Koa();
  app.use(router.routes());
  server = http.createServer(app.callback());
} else {
  server = http.createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/webhook/event') {
      res.writeHead(404).end();
      return;
    }
    const [status, body] = await take(req);
    const text = body === ACK ? ACK_TEXT : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  });
}
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(
    `${JSON.stringify({ msg: 'gateway listening', url: `http://127.0.0.1:${server.address().port}` })}\n`,
  ),
);
process.on('SIGTERM', async () => {
  // PROTO_REPORT=<file>: what the consumer made of the pushes, to check it kept up (written at the end).
  if (consumer && process.env.PROTO_REPORT) {
    consumer.postMessage('count');
    const counts = await new Promise((answer) => consumer.once('message', answer));
    appendFileSync(process.env.PROTO_REPORT, `${JSON.stringify(counts)}\n`);
  }
  process.exit(0);
});

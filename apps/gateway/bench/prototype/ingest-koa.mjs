// Prototype (issue 11, goal 3): the leanest durable ingest on the project's stack, run by bench/ingest.bench.mjs
// beside the SDK and the gateway (its "(p)" rows). Koa + @koa/router, the raw body, event-core's parse (verify,
// decrypt, validate), one info line per push (pino, asynchronous destination), and the push made durable before
// the 200, by PROTO_STORE:
//   inbox  appended to an append-only table (rowid, no other index): the design the issue suggests, with the
//          dedupe by event id left to the consumer that would turn the inbox into exams and jobs (not built here)
//   keyed  the same table keyed by the event id (a random 32-hex string from Feishu): dedupe at the door
//   none   nothing stored (Koa + event-core + the log line alone)
// better-sqlite3 in WAL with synchronous=NORMAL and the log synced on libuv's pool (as the gateway's
// wal-sync.ts); group commit: one commit and its sync at a time, and every push that arrives meanwhile goes into
// the next. No metrics, no access log, no dispatcher, no error boundary: the floor, not a product.
// PROTO_HTTP=node serves the push with node:http alone (no Koa, no router): the issue measured such a prototype
// at 1.30x the SDK's throughput, and this shows what Koa itself costs the floor.
// Prints {"msg":"gateway listening","url":…} when ready, as the gateway does.
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from '@feishu-exam/event-core';
import Router from '@koa/router';
import Database from 'better-sqlite3';
import Koa from 'koa';
import { pino } from 'pino';

const STORE = process.env.PROTO_STORE ?? 'inbox';
if (!['inbox', 'keyed', 'none'].includes(STORE))
  throw new Error(`PROTO_STORE=${STORE}: inbox, keyed or none`);
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
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(
  STORE === 'keyed'
    ? 'CREATE TABLE inbox (event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL) WITHOUT ROWID'
    : 'CREATE TABLE inbox (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, event_type TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL)',
);
const insert = db.prepare(
  STORE === 'keyed'
    ? 'INSERT INTO inbox VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'
    : 'INSERT INTO inbox (event_id, event_type, body, received_at) VALUES (?, ?, ?, ?)',
);
const commitBatch = db.transaction((batch, now) => {
  for (const w of batch) insert.run(w.event.id, w.event.type, w.body, now);
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
    const batch = waiting;
    waiting = [];
    try {
      commitBatch(batch, Date.now());
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
process.on('SIGTERM', () => process.exit(0));

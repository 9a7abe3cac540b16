// A prototype of the gateway's outbound exam loop, to find the CPU per exam this machine allows (session 6).
// NOT the gateway: plain Node ESM, no build step, no Koa, TypeORM, SDK or pino. It is started by the loop bench
// in place of the real gateway (FEISHU_EXAM_GATEWAY_MAIN=<this file>), with the same environment, and does the
// same protocol work with the same durability:
//
//   POST /webhook/event   verify X-Lark-Signature over the raw bytes, decrypt (AES-256-CBC), check the
//                         verification token, dedupe by event id, store the exam; 200 once that is on disk.
//   (post_card)           im.v1.message.create to the staff chat (uuid as the real gateway's), message id stored.
//   POST /webhook/card    verify, decrypt, check the token and the approver, tie the click to the exam's card,
//                         store the decision; answer with a toast and the card.
//   (arrange)             the sandbox platform's arrangement (synthesised in-process, as the sandbox does), stored.
//   (login_info)          hire.v1.ecoExam.loginInfo with the arrangement, its completion stored.
//   (refresh_card)        im.v1.message.patch to show the exam arranged, its completion stored.
//
// Durability: SQLite in WAL mode. Every step's state is committed and on disk before anything depends on it
// (an acknowledgement, or the next outbound call: write, then call). Commits are grouped: every write that
// arrives while a sync is in flight waits for it and goes into the next transaction, so one transaction and
// one fsync serve every exam and step that came meanwhile.
//   PROTO_SYNC=wal-fdatasync (default): synchronous=NORMAL, and the -wal file fdatasync'd on libuv's pool
//     before a batch's writes count as done (in WAL mode this is exactly what FULL does, off the main thread).
//   PROTO_SYNC=full: synchronous=FULL, the commit's fsync in the main thread.
// PROTO_LOG=steps writes one JSON log line per step (buffered, one write per turn of the event loop);
// default: only start, stop, resumed steps and failures.
// PROTO_ARRANGE=with-decision records the (deterministic) sandbox arrangement in the decision's transaction
// instead of a transaction of its own (one commit fewer per exam; only sound for a deterministic platform).
// PROTO_DURABLE=off skips the fsyncs (NORMAL, no fdatasync): NOT durable, to measure what durability costs.
// PROTO_DB=off runs no SQL at all (every write "succeeds" at once, in its batch): NOT durable, to measure what
// SQLite costs. PROTO_BATCH=off commits every write in a transaction (and sync) of its own, one after the
// other: what group commit saves. PROTO_STATS=1 prints the batches and writes per batch to stderr at exit.
//
// Crash safety: the exam row says which step is next (card_message_id, state, arrangement,
// login_info_reported_at, card_refreshed_at). At start every unfinished step is resumed and logged (a step whose
// call was made but not recorded runs again: the message create is idempotent by its uuid, login_info and the
// card patch are idempotent by nature). No retries on failure: a failed step is logged and resumed at restart.
import { createDecipheriv, createHash, hash, timingSafeEqual } from 'node:crypto';
import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

const require = createRequire(new URL('../../../gateway/package.json', import.meta.url));
const Database = require('better-sqlite3');

// ---------------------------------------------------------------------------------------------- configuration
const env = process.env;
const need = (name) => {
  const value = env[name];
  if (!value) {
    process.stderr.write(`${name} is required\n`);
    process.exit(1);
  }
  return value;
};
const APP_ID = need('FEISHU_APP_ID');
const APP_SECRET = need('FEISHU_APP_SECRET');
const ENCRYPT_KEY = need('FEISHU_ENCRYPT_KEY');
const VERIFICATION_TOKEN = need('FEISHU_VERIFICATION_TOKEN');
const DOMAIN = new URL(env.FEISHU_DOMAIN ?? 'https://open.feishu.cn');
const APPROVAL_CHAT_ID = need('APPROVAL_CHAT_ID');
const APPROVERS = new Set(
  (env.APPROVER_OPEN_IDS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const DATABASE_URL = need('DATABASE_URL');
if (!DATABASE_URL.startsWith('sqlite:')) {
  process.stderr.write('the prototype runs on SQLite only (DATABASE_URL=sqlite:<file>)\n');
  process.exit(1);
}
const DB_FILE = DATABASE_URL.slice('sqlite:'.length);
const HOST = env.HOST ?? '127.0.0.1';
const PORT = Number(env.PORT ?? 3000);
const SYNC = env.PROTO_SYNC ?? 'wal-fdatasync';
const STEP_LOGS = env.PROTO_LOG === 'steps';
const ARRANGE_WITH_DECISION = env.PROTO_ARRANGE === 'with-decision';
const DURABLE = env.PROTO_DURABLE !== 'off';
const NO_DATABASE = env.PROTO_DB === 'off';
const GROUP_COMMIT = env.PROTO_BATCH !== 'off';
const TOLERANCE_SECONDS = 8 * 60 * 60;
const MAX_BODY = 1024 * 1024;

// ------------------------------------------------------------------------------------------------------- log
// JSON lines to stdout, gathered and written once per turn of the event loop (stdout to a pipe is a
// synchronous write on Linux: one write for many lines). Never a secret, token or candidate contact.
let logBuffer = '';
let logScheduled = false;
const flushLog = () => {
  logScheduled = false;
  const text = logBuffer;
  logBuffer = '';
  if (text) process.stdout.write(text);
};
function log(level, msg, fields) {
  logBuffer += `${JSON.stringify({ level, time: Date.now(), msg, ...fields })}\n`;
  if (!logScheduled) {
    logScheduled = true;
    setImmediate(flushLog);
  }
}
const stepLog = STEP_LOGS ? (msg, examId) => log(30, msg, { examId }) : () => undefined;

// -------------------------------------------------------------------------------------------------- database
if (DB_FILE !== ':memory:') mkdirSync(dirname(DB_FILE), { recursive: true });
const db = new Database(DB_FILE);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${SYNC === 'full' && DURABLE ? 'FULL' : 'NORMAL'}`);
db.pragma('cache_size = -65536');
db.exec(`
  CREATE TABLE IF NOT EXISTS processed_events (
    event_id TEXT PRIMARY KEY, exam_id TEXT, outcome TEXT NOT NULL, received_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS exams (
    exam_id TEXT PRIMARY KEY, tenant_key TEXT NOT NULL, event_id TEXT NOT NULL, paper_id TEXT,
    candidate TEXT NOT NULL, state TEXT NOT NULL, card_message_id TEXT, decided_by TEXT, decided_at INTEGER,
    arrangement TEXT, provider_id TEXT, login_info_reported_at INTEGER, card_refreshed_at INTEGER,
    received_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
`);
const sql = {
  insertEvent: db.prepare(
    'INSERT INTO processed_events (event_id, exam_id, outcome, received_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
  ),
  insertExam: db.prepare(
    `INSERT INTO exams (exam_id, tenant_key, event_id, paper_id, candidate, state, received_at, updated_at)
     VALUES (?, ?, ?, ?, ?, 'pending_approval', ?, ?) ON CONFLICT DO NOTHING`,
  ),
  cardPosted: db.prepare(
    'UPDATE exams SET card_message_id = ?, updated_at = ? WHERE exam_id = ? AND card_message_id IS NULL',
  ),
  approve: db.prepare(
    `UPDATE exams SET state = 'arranging', decided_by = ?, decided_at = ?, updated_at = ?
     WHERE exam_id = ? AND state = 'pending_approval'`,
  ),
  arranged: db.prepare(
    `UPDATE exams SET arrangement = ?, provider_id = 'sandbox', updated_at = ?
     WHERE exam_id = ? AND state = 'arranging' AND arrangement IS NULL`,
  ),
  loginInfoReported: db.prepare(
    `UPDATE exams SET login_info_reported_at = ?, state = 'arranged', updated_at = ?
     WHERE exam_id = ? AND login_info_reported_at IS NULL`,
  ),
  cardRefreshed: db.prepare('UPDATE exams SET card_refreshed_at = ?, updated_at = ? WHERE exam_id = ?'),
  find: db.prepare('SELECT * FROM exams WHERE exam_id = ?'),
  unfinished: db.prepare(
    `SELECT * FROM exams WHERE card_message_id IS NULL
       OR (state = 'arranging' AND arrangement IS NULL)
       OR (arrangement IS NOT NULL AND login_info_reported_at IS NULL)
       OR (login_info_reported_at IS NOT NULL AND card_refreshed_at IS NULL)`,
  ),
};

if (NO_DATABASE) {
  const stub = { run: () => ({ changes: 1 }), get: () => undefined, all: () => [] };
  for (const name of Object.keys(sql)) sql[name] = stub;
}

// ------------------------------------------------------------------------------------- group commit + fsync
// A write is a function run inside the next batch's transaction; its callback runs once the batch is on disk,
// with what the function returned. Only one batch is committed per sync: writes that arrive while a sync is
// in flight wait for it, and then all go into one transaction and one sync.
const walFd = DB_FILE === ':memory:' ? -1 : openSync(`${DB_FILE}-wal`, 'a+');
let queuedWrites = [];
let queuedDone = [];
let flushScheduled = false;
let syncing = false;
const applyAll = (writes, results) => {
  for (let i = 0; i < writes.length; i++) results[i] = writes[i]();
};
const runBatch = NO_DATABASE ? applyAll : db.transaction(applyAll);
let batches = 0;
let batchedWrites = 0;

function write(apply, done) {
  queuedWrites.push(apply);
  queuedDone.push(done);
  if (!flushScheduled && !syncing) {
    flushScheduled = true;
    // From the next turn: every request read in this turn joins the batch.
    setImmediate(flushWrites);
  }
}

function flushWrites() {
  flushScheduled = false;
  if (queuedWrites.length === 0) return;
  let writes = queuedWrites;
  let done = queuedDone;
  if (GROUP_COMMIT) {
    queuedWrites = [];
    queuedDone = [];
  } else {
    writes = queuedWrites.splice(0, 1);
    done = queuedDone.splice(0, 1);
  }
  const results = new Array(writes.length);
  try {
    runBatch(writes, results);
  } catch (error) {
    log(50, 'a batch of writes failed', { error: String(error?.message ?? error), writes: writes.length });
    for (const d of done) d(error, undefined);
    return;
  }
  batches++;
  batchedWrites += writes.length;
  if (walFd < 0 || SYNC === 'full' || !DURABLE || NO_DATABASE) {
    for (let i = 0; i < done.length; i++) done[i](null, results[i]);
    if (queuedWrites.length > 0 && !flushScheduled) {
      flushScheduled = true;
      setImmediate(flushWrites);
    }
    return;
  }
  syncing = true;
  fdatasync(walFd, (error) => {
    syncing = false;
    if (error) log(50, 'the write-ahead log could not be synced', { error: error.message });
    for (let i = 0; i < done.length; i++) done[i](error ?? null, results[i]);
    if (queuedWrites.length > 0 && !flushScheduled) {
      flushScheduled = true;
      setImmediate(flushWrites);
    }
  });
}

// --------------------------------------------------------------------------------- Feishu's push: verify + open
const aesKey = createHash('sha256').update(ENCRYPT_KEY, 'utf8').digest();
// CBC decryption with one long-lived ECB decipher (no padding, whole blocks: it keeps no state between calls):
// a createDecipheriv per push costs more than decrypting the push (event-core's crypto.ts does the same).
const blockDecipher = createDecipheriv('aes-256-ecb', aesKey, null);
blockDecipher.setAutoPadding(false);
const signingScratch = Buffer.allocUnsafe(64 * 1024);
const expectedSig = Buffer.alloc(64);
const presentedSig = Buffer.alloc(64);
const tokenDigest = hash('sha256', VERIFICATION_TOKEN, 'buffer');
const SEALED_PREFIX = Buffer.from('{"encrypt":"', 'latin1');

/** The decrypted, verified envelope, or a string saying why not (no detail that helps an attacker). */
function openPush(headers, raw) {
  const signature = headers['x-lark-signature'];
  const timestamp = headers['x-lark-request-timestamp'];
  const nonce = headers['x-lark-request-nonce'];
  if (typeof signature !== 'string' || typeof timestamp !== 'string' || typeof nonce !== 'string')
    return 'bad_signature: X-Lark-Signature is missing; every event must be signed';
  const age = Date.now() / 1000 - Number(timestamp);
  if (!(age <= TOLERANCE_SECONDS && age >= -300)) return 'stale_timestamp';
  const prefix = timestamp + nonce + ENCRYPT_KEY;
  if (prefix.length * 3 + raw.length > signingScratch.length) return 'body_too_large';
  const written = signingScratch.write(prefix, 0, 'utf8');
  raw.copy(signingScratch, written);
  expectedSig.write(hash('sha256', signingScratch.subarray(0, written + raw.length), 'hex'), 0, 'latin1');
  if (signature.length !== 64 || presentedSig.write(signature.toLowerCase(), 0, 'latin1') !== 64)
    return 'bad_signature: the X-Lark-Signature does not match; check FEISHU_ENCRYPT_KEY';
  if (!timingSafeEqual(expectedSig, presentedSig))
    return 'bad_signature: the X-Lark-Signature does not match; check FEISHU_ENCRYPT_KEY';
  // Signed bytes: `{"encrypt":"<base64>"}` as Feishu sends it (anything else is refused).
  const end = raw.length - 2;
  if (raw.compare(SEALED_PREFIX, 0, SEALED_PREFIX.length, 0, SEALED_PREFIX.length) !== 0 || raw[end] !== 0x22)
    return 'not_encrypted';
  const bytes = Buffer.from(raw.toString('latin1', SEALED_PREFIX.length, end), 'base64');
  if (bytes.length < 32 || bytes.length % 16 !== 0) return 'truncated';
  const plain = blockDecipher.update(bytes.subarray(16));
  for (let i = 0; i < plain.length; i++) plain[i] ^= bytes[i];
  const pad = plain[plain.length - 1];
  if (pad < 1 || pad > 16) return 'bad_padding';
  let envelope;
  try {
    envelope = JSON.parse(plain.toString('utf8', 0, plain.length - pad));
  } catch {
    return 'malformed_json';
  }
  const token = envelope?.header?.token;
  if (typeof token !== 'string' || !timingSafeEqual(hash('sha256', token, 'buffer'), tokenDigest))
    return 'bad_token: check FEISHU_VERIFICATION_TOKEN';
  return envelope;
}

// -------------------------------------------------------------------------------------------- Open Platform
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const apiHost = DOMAIN.hostname;
const apiPort = Number(DOMAIN.port || 80);
if (DOMAIN.protocol !== 'http:') {
  process.stderr.write(
    'the prototype speaks plain HTTP only (the emulator): FEISHU_DOMAIN must be http://\n',
  );
  process.exit(1);
}

/** One call: `done(error, data)` with the answer's `data` (or the whole answer for auth). */
function callApi(method, path, authorization, body, done) {
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (authorization) headers.authorization = authorization;
  const req = http.request({ agent, host: apiHost, port: apiPort, method, path, headers }, (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      text += chunk;
    });
    res.on('end', () => {
      let answer;
      try {
        answer = JSON.parse(text);
      } catch {
        return done(new Error(`${method} ${path}: HTTP ${res.statusCode}, not JSON`));
      }
      if (res.statusCode !== 200 || answer.code !== 0)
        return done(
          new Error(`${method} ${path}: HTTP ${res.statusCode}, code ${answer.code} ${answer.msg}`),
        );
      done(null, answer);
    });
  });
  req.on('error', done);
  req.end(body);
}

// The tenant_access_token, cached until 5 minutes before it expires; one fetch at a time.
let tenantAuthorization = '';
let tokenExpiresAt = 0;
let tokenWaiters;
function withToken(done) {
  if (tenantAuthorization && Date.now() < tokenExpiresAt) return done(null, tenantAuthorization);
  if (tokenWaiters) return void tokenWaiters.push(done);
  tokenWaiters = [done];
  callApi(
    'POST',
    '/open-apis/auth/v3/tenant_access_token/internal',
    undefined,
    JSON.stringify({ app_id: APP_ID, app_secret: APP_SECRET }),
    (error, answer) => {
      const waiters = tokenWaiters;
      tokenWaiters = undefined;
      if (!error) {
        tenantAuthorization = `Bearer ${answer.tenant_access_token}`;
        tokenExpiresAt = Date.now() + (Number(answer.expire) - 300) * 1000;
      }
      for (const w of waiters) w(error, tenantAuthorization);
    },
  );
}

function callWithToken(method, path, body, done) {
  withToken((error, authorization) => {
    if (error) return done(error);
    callApi(method, path, authorization, body, (err, answer) => {
      // A token Feishu no longer takes: forget it (the step is resumed at restart; no retries here).
      if (err && /code 99991663|code 99991661/.test(err.message)) tokenExpiresAt = 0;
      done(err, answer);
    });
  });
}

// -------------------------------------------------------------------------------------------------- the card
const escapeMarkdown = (text) => String(text).replace(/[\\`*_~[\]()<>#|]/g, (c) => `\\${c}`);
const maskPhone = (number, code) => {
  if (!number) return undefined;
  const masked =
    number.length >= 8 ? `${number.slice(0, 3)}****${number.slice(-4)}` : `****${number.slice(-2)}`;
  return code ? `+${code} ${masked}` : masked;
};
const maskEmail = (email) => {
  if (!email) return undefined;
  const at = email.lastIndexOf('@');
  return at <= 0 ? '***' : `${email[0]}***${email.slice(at)}`;
};
const formatTime = (ms) =>
  ms == null ? '-' : `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ')} (UTC+8)`;
const plain = (content) => ({ tag: 'plain_text', content });
const md = (content) => ({ tag: 'markdown', content });

/** The approval card (JSON 2.0) for an exam's state: the real gateway's shape, English only. */
function approvalCard(exam) {
  const c = exam.candidate;
  const facts = [
    c.name && `**Candidate**: ${escapeMarkdown(c.name)}`,
    c.mobileNumber && `**Phone**: ${escapeMarkdown(maskPhone(c.mobileNumber, c.mobileCode))}`,
    c.email && `**Email**: ${escapeMarkdown(maskEmail(c.email))}`,
    `**Arrived**: ${formatTime(exam.receivedAt)}`,
  ]
    .filter(Boolean)
    .join('\n');
  const ids = {
    tag: 'collapsible_panel',
    expanded: false,
    header: { title: plain('IDs') },
    elements: [md(`exam_id: ${escapeMarkdown(exam.examId)}\nevent_id: ${escapeMarkdown(exam.eventId)}`)],
  };
  const who =
    exam.decidedBy && /^ou_[\w-]+$/.test(exam.decidedBy) ? `<at id=${exam.decidedBy}></at>` : 'someone';
  let title;
  let template;
  let elements;
  if (exam.state === 'pending_approval') {
    const button = (action, label, type) => ({
      tag: 'button',
      name: action,
      text: plain(label),
      type,
      form_action_type: 'submit',
      behaviors: [{ type: 'callback', value: { action, exam_id: exam.examId } }],
    });
    title = 'Exam waiting for approval';
    template = 'blue';
    elements = [
      md(facts),
      {
        tag: 'form',
        name: 'decision',
        elements: [
          {
            tag: 'input',
            name: 'reason',
            placeholder: plain('Reason (required to reject)'),
            max_length: 200,
          },
          {
            tag: 'column_set',
            columns: [
              { tag: 'column', width: 'auto', elements: [button('approve', 'Approve', 'primary')] },
              { tag: 'column', width: 'auto', elements: [button('reject', 'Reject', 'danger')] },
            ],
          },
        ],
      },
      ids,
    ];
  } else if (exam.state === 'arranging') {
    title = 'Exam approved: arranging';
    template = 'wathet';
    elements = [
      md(facts),
      md(`Approved by ${who} at ${formatTime(exam.decidedAt)}; arranging the exam…`),
      ids,
    ];
  } else {
    let host = '';
    try {
      host = new URL(exam.arrangement.examUrl).host;
    } catch {}
    title = 'Exam arranged';
    template = 'green';
    elements = [
      md(facts),
      md(
        `Approved by ${who} at ${formatTime(exam.decidedAt)}${host ? `\n**Link**: ${escapeMarkdown(host)}` : ''}`,
      ),
      ids,
    ];
  }
  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: title } },
    header: { title: plain(title), subtitle: plain('Feishu exam gateway'), template },
    body: { elements },
  };
}

/** The uuid the real gateway gives an exam's card (apps/gateway/src/workflow/jobs.ts messageUuid). */
const cardUuid = (examId) => `exam-${createHash('sha256').update(examId).digest('base64url').slice(0, 43)}`;

// -------------------------------------------------------------------------------------- the exam, in memory
// The exams whose loop is running, by id: each step reads its exam here instead of the database (the row is
// the durable copy; every change below is made in memory only once its write is on disk).
const live = new Map();

const rowToExam = (row) => ({
  examId: row.exam_id,
  tenantKey: row.tenant_key,
  eventId: row.event_id,
  paperId: row.paper_id,
  candidate: JSON.parse(row.candidate),
  state: row.state,
  messageId: row.card_message_id,
  decidedBy: row.decided_by,
  decidedAt: row.decided_at,
  arrangement: row.arrangement ? JSON.parse(row.arrangement) : null,
  receivedAt: row.received_at,
  /** Callbacks waiting for the card's message id to be on disk (a click that came a moment early). */
  cardWaiters: null,
  posting: false,
});

function examById(examId) {
  const exam = live.get(examId);
  if (exam) return exam;
  const row = sql.find.get(examId);
  return row ? rowToExam(row) : undefined;
}

function stepFailed(exam, step, error) {
  log(50, 'step failed; resumed at the next start', { examId: exam.examId, step, error: error.message });
  if (exam.cardWaiters) {
    for (const w of exam.cardWaiters) w();
    exam.cardWaiters = null;
  }
}

// 1. post_card
function postCard(exam) {
  exam.posting = true;
  const body = JSON.stringify({
    receive_id: APPROVAL_CHAT_ID,
    msg_type: 'interactive',
    content: JSON.stringify(approvalCard(exam)),
    uuid: cardUuid(exam.examId),
  });
  callWithToken('POST', '/open-apis/im/v1/messages?receive_id_type=chat_id', body, (error, answer) => {
    const messageId = answer?.data?.message_id;
    if (error || typeof messageId !== 'string') {
      exam.posting = false;
      return stepFailed(exam, 'post_card', error ?? new Error('no message_id in the answer'));
    }
    const now = Date.now();
    write(
      () => sql.cardPosted.run(messageId, now, exam.examId),
      (err) => {
        exam.posting = false;
        if (err) return stepFailed(exam, 'post_card', err);
        exam.messageId = messageId;
        stepLog('card posted', exam.examId);
        if (exam.cardWaiters) {
          for (const w of exam.cardWaiters) w();
          exam.cardWaiters = null;
        }
      },
    );
  });
}

// 3. arrange (the sandbox platform: deterministic, as sandbox.ts makes it)
const sandboxArrangement = (exam) => {
  const digest = createHash('sha256').update(`sandbox:${exam.examId}`).digest('hex');
  return {
    examUrl: `https://sandbox.exam.invalid/exams/${encodeURIComponent(exam.examId)}?k=${digest.slice(0, 16)}`,
    username: exam.candidate.email ?? `candidate-${digest.slice(0, 8)}`,
    password: digest.slice(16, 28),
    platformExamId: `sbx-${digest.slice(0, 12)}`,
  };
};

function arrange(exam) {
  const arrangement = sandboxArrangement(exam);
  const now = Date.now();
  write(
    () => sql.arranged.run(JSON.stringify(arrangement), now, exam.examId).changes,
    (err) => {
      if (err) return stepFailed(exam, 'arrange', err);
      exam.arrangement = arrangement;
      stepLog('exam arranged on the platform', exam.examId);
      reportLoginInfo(exam);
    },
  );
}

// 4. report_login_info
function reportLoginInfo(exam) {
  const { examUrl, username, password } = exam.arrangement;
  const body = JSON.stringify({
    result: 0,
    msg: 'success',
    exam_login_info: { exam_url: examUrl, username, password },
  });
  callWithToken(
    'POST',
    `/open-apis/hire/v1/eco_exams/${encodeURIComponent(exam.examId)}/login_info`,
    body,
    (error) => {
      if (error) return stepFailed(exam, 'report_login_info', error);
      const now = Date.now();
      write(
        () => sql.loginInfoReported.run(now, now, exam.examId),
        (err) => {
          if (err) return stepFailed(exam, 'report_login_info', err);
          exam.state = 'arranged';
          stepLog('login info reported', exam.examId);
          refreshCard(exam);
        },
      );
    },
  );
}

// 5. refresh_card
function refreshCard(exam) {
  const body = JSON.stringify({ content: JSON.stringify(approvalCard(exam)) });
  callWithToken('PATCH', `/open-apis/im/v1/messages/${encodeURIComponent(exam.messageId)}`, body, (error) => {
    if (error) return stepFailed(exam, 'refresh_card', error);
    const now = Date.now();
    write(
      () => sql.cardRefreshed.run(now, now, exam.examId),
      (err) => {
        if (err) return stepFailed(exam, 'refresh_card', err);
        stepLog('card refreshed', exam.examId);
        live.delete(exam.examId);
      },
    );
  });
}

// ------------------------------------------------------------------------------------------------ the webhooks
const ACK_EVENT = '{"code":0,"msg":"success"}';

function answer(res, status, body) {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const refused = (res, reason) => {
  log(40, 'push refused', { reason });
  const status = reason.startsWith('bad_signature') || reason.startsWith('bad_token') ? 401 : 400;
  answer(res, status, JSON.stringify({ code: reason.split(':')[0], message: reason }));
};

// 2. the exam arrives
function onEvent(req, res, raw) {
  const envelope = openPush(req.headers, raw);
  if (typeof envelope === 'string') return refused(res, envelope);
  const header = envelope.header;
  if (header?.event_type !== 'hire.eco_exam.created_v1' || typeof header.event_id !== 'string') {
    // Not this prototype's: acknowledged, as the real gateway does for an event without a handler.
    return answer(res, 200, ACK_EVENT);
  }
  const p = envelope.event;
  if (typeof p?.exam_id !== 'string' || p.exam_id === '') return answer(res, 200, ACK_EVENT);
  const now = Date.now();
  const exam = {
    examId: p.exam_id,
    tenantKey: header.tenant_key ?? '',
    eventId: header.event_id,
    paperId: p.paper_id ?? null,
    candidate: {
      name: p.candidate_info?.name,
      mobileCode: p.candidate_info?.mobile?.code,
      mobileNumber: p.candidate_info?.mobile?.number,
      email: p.candidate_info?.email,
    },
    state: 'pending_approval',
    messageId: null,
    decidedBy: null,
    decidedAt: null,
    arrangement: null,
    receivedAt: now,
    cardWaiters: null,
    posting: false,
  };
  write(
    () => {
      if (sql.insertEvent.run(exam.eventId, exam.examId, 'accepted', now).changes === 0)
        return 'duplicate_event';
      const created = sql.insertExam.run(
        exam.examId,
        exam.tenantKey,
        exam.eventId,
        exam.paperId,
        JSON.stringify(exam.candidate),
        now,
        now,
      ).changes;
      return created ? 'created' : 'duplicate_exam';
    },
    (error, outcome) => {
      if (error) return answer(res, 500, '{"code":"handler_failed","message":"Feishu will push it again"}');
      answer(res, 200, ACK_EVENT);
      if (outcome !== 'created') return;
      stepLog('exam received', exam.examId);
      live.set(exam.examId, exam);
      postCard(exam);
    },
  );
}

const toast = (type, content) => ({ type, content });
const cardReply = (res, t, exam) =>
  answer(
    res,
    200,
    JSON.stringify(exam ? { toast: t, card: { type: 'raw', data: approvalCard(exam) } } : { toast: t }),
  );

// 4. a staff member clicks Approve or Reject
function onCard(req, res, raw) {
  const envelope = openPush(req.headers, raw);
  if (typeof envelope === 'string') return refused(res, envelope);
  if (envelope.header?.event_type !== 'card.action.trigger') return answer(res, 200, '{}');
  const { operator, action, context } = envelope.event ?? {};
  const value = action?.value;
  if ((value?.action !== 'approve' && value?.action !== 'reject') || typeof value.exam_id !== 'string')
    return cardReply(res, toast('error', 'This card is not one of ours.'));
  const openId = operator?.open_id;
  if (APPROVERS.size > 0 && !APPROVERS.has(openId)) {
    log(40, 'card action refused: operator not allowed', { examId: value.exam_id });
    return cardReply(res, toast('error', 'You are not allowed to decide on exams.'));
  }
  const exam = examById(value.exam_id);
  const messageId = context?.open_message_id;
  if (!exam || !messageId) return cardReply(res, toast('error', 'This card is not one of ours.'));
  if (exam.messageId === null && exam.posting) {
    // The card is in the chat but its message id is not on disk yet: wait for it (a moment), then decide.
    exam.cardWaiters ??= [];
    exam.cardWaiters.push(() => decide(res, exam, messageId, value, openId, action));
    return;
  }
  decide(res, exam, messageId, value, openId, action);
}

function decide(res, exam, messageId, value, openId, action) {
  if (exam.messageId === null)
    return cardReply(
      res,
      toast('warning', 'This card is still being registered. Please click again in a moment.'),
    );
  if (exam.messageId !== messageId) {
    log(40, "card action refused: the click did not come from this exam's card", { examId: exam.examId });
    return cardReply(res, toast('error', 'This card is not one of ours.'));
  }
  if (value.action === 'reject') {
    // The prototype carries out approvals only (the bench approves every exam).
    const reason = String(action.form_value?.reason ?? action.input_value ?? '').trim();
    if (!reason) return cardReply(res, toast('warning', 'Please give a reason to reject.'));
    return cardReply(res, toast('error', 'Rejecting is not part of this prototype.'));
  }
  if (exam.state !== 'pending_approval')
    return cardReply(res, toast('info', `Already decided by ${exam.decidedBy ?? 'someone'}.`), exam);
  const now = Date.now();
  const arrangement = ARRANGE_WITH_DECISION ? sandboxArrangement(exam) : null;
  write(
    () => {
      const moved = sql.approve.run(openId, now, now, exam.examId).changes;
      if (moved && arrangement) sql.arranged.run(JSON.stringify(arrangement), now, exam.examId);
      return moved;
    },
    (error, moved) => {
      if (error)
        return cardReply(
          res,
          toast('error', 'The gateway could not record this decision. Please try again.'),
        );
      if (!moved) {
        const row = sql.find.get(exam.examId);
        return cardReply(res, toast('info', 'Already decided.'), row ? rowToExam(row) : undefined);
      }
      exam.state = 'arranging';
      exam.decidedBy = openId;
      exam.decidedAt = now;
      cardReply(res, toast('success', 'Approved. Arranging the exam…'), exam);
      stepLog('exam approved', exam.examId);
      live.set(exam.examId, exam);
      if (arrangement) {
        exam.arrangement = arrangement;
        reportLoginInfo(exam);
      } else arrange(exam);
    },
  );
}

// --------------------------------------------------------------------------------------------------- server
const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const url = req.url;
  const route =
    req.method === 'POST'
      ? url === '/webhook/event'
        ? onEvent
        : url === '/webhook/card'
          ? onCard
          : null
      : null;
  if (!route) {
    if (req.method === 'GET' && (url === '/healthz' || url === '/readyz'))
      return answer(res, 200, '{"ok":true}');
    req.resume();
    return answer(res, 404, '{"code":"not_found"}');
  }
  const chunks = [];
  let length = 0;
  req.on('data', (chunk) => {
    length += chunk.length;
    if (length <= MAX_BODY) chunks.push(chunk);
  });
  req.on('end', () => {
    if (length > MAX_BODY) return answer(res, 413, '{"code":"body_too_large"}');
    route(req, res, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
  });
});

// Resume every unfinished step (a crash or a stop between a call and its record): logged, never silent.
for (const row of sql.unfinished.all()) {
  const exam = rowToExam(row);
  live.set(exam.examId, exam);
  const step =
    exam.messageId === null
      ? 'post_card'
      : exam.state === 'arranging' && !exam.arrangement
        ? 'arrange'
        : row.login_info_reported_at === null
          ? 'report_login_info'
          : 'refresh_card';
  log(30, 'resuming an unfinished step', { examId: exam.examId, step });
  if (step === 'post_card') postCard(exam);
  else if (step === 'arrange') arrange(exam);
  else if (step === 'report_login_info') reportLoginInfo(exam);
  else refreshCard(exam);
}

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  log(30, 'gateway listening', {
    url: `http://${HOST}:${port}`,
    prototype: 'outbound-loop',
    sync: DURABLE ? SYNC : 'off (not durable)',
    stepLogs: STEP_LOGS,
    arrange: ARRANGE_WITH_DECISION ? 'with-decision' : 'own-transaction',
  });
});

process.once('SIGTERM', () => {
  server.close();
  server.closeIdleConnections?.();
  const finish = () => {
    if (queuedWrites.length > 0 || syncing || flushScheduled) return void setTimeout(finish, 5);
    const stats = {
      batches,
      writes: batchedWrites,
      writesPerBatch: batches ? +(batchedWrites / batches).toFixed(1) : 0,
    };
    log(30, 'gateway stopped', stats);
    if (env.PROTO_STATS === '1') process.stderr.write(`prototype: ${JSON.stringify(stats)}\n`);
    flushLog();
    db.close();
    if (walFd >= 0) closeSync(walFd);
    process.exit(0);
  };
  finish();
});

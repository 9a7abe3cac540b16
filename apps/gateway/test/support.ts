import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { envelopeV2, type KnownEvent, parse, seal } from '@feishu-exam/event-core';
import BetterSqlite3 from 'better-sqlite3';
import sqlite3 from 'sqlite3';
import { expect, vi } from 'vitest';
import { type GatewayConfig, loadConfig, secretValues } from '../src/config.js';
import { createLogger } from '../src/log.js';
import type { JobHandler } from '../src/outbox/worker.js';
import { type GatewayOverrides, type RunningGateway, startGateway } from '../src/server.js';
import {
  DEFAULT_SQLITE_DRIVER,
  type OpenStoreOptions,
  SQLITE_DRIVERS,
  type SqliteDriver,
  type SqlTx,
} from '../src/store/index.js';
import { Initial1764000000000 } from '../src/store/migrations/0001-initial.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';

export const secrets = {
  appId: 'cli_a1b2c3d4e5f6',
  appSecret: 'app-secret-Zq9w8e7r6t5y4u3i',
  encryptKey: 'encrypt-key-Ab12Cd34Ef56Gh78',
  verificationToken: 'verification-token-Xy98Wv76',
};

export const baseEnv = {
  FEISHU_APP_ID: secrets.appId,
  FEISHU_APP_SECRET: secrets.appSecret,
  FEISHU_ENCRYPT_KEY: secrets.encryptKey,
  FEISHU_VERIFICATION_TOKEN: secrets.verificationToken,
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'debug',
  APPROVAL_CHAT_ID: 'oc_staff_chat_0001',
  ADMIN_TOKEN: 'admin-token-0123456789abcdef',
  // Nothing listens there: jobs fail and back off, and no test can ever reach the real Open Platform.
  FEISHU_DOMAIN: 'http://127.0.0.1:9',
};

/**
 * The SQLite binding the suite runs on: the default, or SQLITE_DRIVER's (CI runs the store, outbox and
 * end-to-end suites again with SQLITE_DRIVER=sqlite3).
 */
export const testSqliteDriver: SqliteDriver = SQLITE_DRIVERS.includes(
  process.env.SQLITE_DRIVER as SqliteDriver,
)
  ? (process.env.SQLITE_DRIVER as SqliteDriver)
  : DEFAULT_SQLITE_DRIVER;
export const testStoreOptions: OpenStoreOptions = { sqliteDriver: testSqliteDriver };

/**
 * Takes the write lock of a SQLite file on a second connection, as another process would (a backup, the
 * sqlite3 shell), through the suite's own binding: two copies of SQLite in one process do not see each other's
 * locks. Resolves with the function that lets it go.
 */
export async function holdWriteLock(file: string): Promise<() => Promise<void>> {
  if (testSqliteDriver === 'better-sqlite3') {
    const other = new BetterSqlite3(file);
    other.exec('BEGIN IMMEDIATE');
    return async () => {
      other.exec('ROLLBACK');
      other.close();
    };
  }
  const other = new sqlite3.Database(file);
  const exec = (sql: string) =>
    new Promise<void>((done, fail) => other.exec(sql, (e) => (e ? fail(e) : done())));
  await exec('BEGIN IMMEDIATE');
  return async () => {
    await exec('ROLLBACK');
    await new Promise((closed) => other.close(closed));
  };
}

/** A fresh SQLite file for one gateway. */
export function tempDatabaseUrl(): string {
  return `sqlite:${join(mkdtempSync(join(tmpdir(), 'feishu-exam-')), 'gateway.sqlite')}`;
}

/**
 * A fresh database for a suite that runs on both dialects: SQLite by default; with TEST_DATABASE=postgres, a
 * new database on the cluster TEST_POSTGRES_URL points at (scripts/postgres-for-tests.sh starts one).
 */
export function testDatabaseUrl(): string {
  if (process.env.TEST_DATABASE !== 'postgres') return tempDatabaseUrl();
  const server = process.env.TEST_POSTGRES_URL;
  if (!server)
    throw new Error('TEST_DATABASE=postgres needs TEST_POSTGRES_URL (scripts/postgres-for-tests.sh)');
  const name = `t_${randomBytes(6).toString('hex')}`;
  execFileSync('psql', [server, '-q', '-c', `CREATE DATABASE ${name}`], { stdio: 'ignore' });
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestGateway extends RunningGateway {
  /** Every log line the gateway wrote, raw. */
  readonly logLines: string[];
  readonly logs: () => Array<Record<string, unknown>>;
}

export async function startTestGateway(
  env: Record<string, string | undefined> = {},
  overrides: GatewayOverrides = {},
): Promise<TestGateway> {
  const loaded = loadConfig({
    ...baseEnv,
    DATABASE_URL: tempDatabaseUrl(),
    SQLITE_DRIVER: testSqliteDriver,
    ...env,
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const config: GatewayConfig = loaded.config;
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const gateway = await startGateway(
    config,
    // As main.ts makes it: the configured secrets are written out wherever they appear.
    createLogger({
      level: config.logLevel,
      destination,
      secrets: secretValues(config, { ...baseEnv, ...env }),
    }),
    overrides,
  );
  return Object.assign(gateway, {
    logLines,
    logs: () => logLines.map((line) => JSON.parse(line) as Record<string, unknown>),
  });
}

/**
 * Writes `head` (a request's bytes, as far as the test wants them sent) on a connection of its own, then either
 * waits for the server to close it and returns what came back (`wait`), or hangs up at once (`hang_up`: a body
 * cut off).
 */
export async function rawExchange(url: string, head: string, then: 'wait' | 'hang_up'): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (d) => {
    answer += d;
  });
  socket.on('error', () => undefined);
  socket.write(head);
  if (then === 'hang_up') socket.destroy();
  else await once(socket, 'close');
  return answer;
}

export async function post(url: string, headers: Record<string, string>, body: Buffer | string) {
  const response = await fetch(url, { method: 'POST', headers, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    json: json as Record<string, unknown> | undefined,
    text,
    contentType: response.headers.get('content-type'),
  };
}

/**
 * The kept-statements scenario both SQLite bindings pass (sqlite.test.ts, better-sqlite.test.ts): a table made,
 * one INSERT run five times with new parameters, an UPDATE and a SELECT, each answering rows changed or read.
 * Three distinct statements: the caller checks that each was prepared once.
 */
export async function runsKeptStatements(statements: {
  exec(sql: string): Promise<void>;
  readonly tx: SqlTx;
}): Promise<void> {
  await statements.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)');
  for (let i = 0; i < 5; i++) {
    expect(await statements.tx.run('INSERT INTO t (k, v) VALUES (?, ?)', [`k${i}`, i])).toBe(1);
  }
  expect(await statements.tx.run('UPDATE t SET v = v + 1 WHERE v >= ?', [3])).toBe(2);
  expect(await statements.tx.all('SELECT k, v FROM t WHERE v > ? ORDER BY k', [3])).toEqual([
    { k: 'k3', v: 4 },
    { k: 'k4', v: 5 },
  ]);
}

/**
 * A verified hire.eco_exam.created_v1 of tenant t1, as event-core hands it to the handlers (sealed and parsed,
 * so that it is exactly what a push becomes).
 */
export function examCreatedEvent(
  examId: string,
  eventId = `ev-${examId}`,
  candidate: Record<string, unknown> = { name: '王二' },
): KnownEvent<'hire.eco_exam.created_v1'> {
  const envelope = envelopeV2(
    'hire.eco_exam.created_v1',
    { exam_id: examId, candidate_info: candidate },
    { eventId, tenantKey: 't1', appId: 'cli_1' },
  );
  const r = parse(seal(envelope), {});
  if (!r.ok || r.kind !== 'event' || r.event.type !== 'hire.eco_exam.created_v1') throw new Error('fixture');
  return r.event;
}

/**
 * Pushes exam `examId` to a running test gateway as Feishu does (sealed, over HTTP), approves it and wakes the
 * worker: the exam's arrangement is the next thing the gateway does.
 */
export async function pushApprovedExam(
  gw: TestGateway,
  examId: string,
  candidate: Record<string, unknown> = { name: 'Audit' },
): Promise<void> {
  const sealed = seal(
    envelopeV2(
      'hire.eco_exam.created_v1',
      { exam_id: examId, candidate_info: candidate },
      { token: secrets.verificationToken },
    ),
    { encryptKey: secrets.encryptKey },
  );
  expect((await post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
  await gw.store.write((tx) => examLifecycle.approve(tx, examId, 'ou_staff', Date.now()));
  gw.worker.wake();
}

/**
 * An Open Platform that accepts everything and records what it was asked: tokens for the auth calls, a new
 * message id (om_1, om_2, …) for each message created, success for the rest.
 */
export async function recordingPlatform() {
  const calls: Array<{ method: string; path: string; body: Record<string, unknown> }> = [];
  let posted = 0;
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.includes('/auth/v3/'))
        return res.end(JSON.stringify({ code: 0, msg: 'ok', tenant_access_token: 't-1', expire: 7200 }));
      calls.push({ method: req.method ?? '', path: req.url ?? '', body: JSON.parse(text || '{}') });
      const create = req.method === 'POST' && req.url?.startsWith('/open-apis/im/v1/messages');
      res.end(
        JSON.stringify({ code: 0, msg: 'success', data: create ? { message_id: `om_${++posted}` } : {} }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const noopJob: JobHandler = async () => undefined;
/** A handler for every job kind that does nothing, but the ones given. */
export const jobHandlers = (overrides: Partial<Record<string, JobHandler>> = {}) => ({
  post_card: noopJob,
  arrange: noopJob,
  report_login_info: noopJob,
  refresh_card: noopJob,
  notify_dead: noopJob,
  sync_papers: noopJob,
  report_result: noopJob,
  register_custom_fields: noopJob,
  poll_result: noopJob,
  ...overrides,
});

/**
 * Holds the first run of the first migration until a second run of it starts or `release` is called: two stores
 * opening one new database at once, one of them inside the migration (a test of the migration lock).
 */
export function holdingFirstMigration(): { readonly runs: () => number; readonly release: () => void } {
  let release: () => void = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  let runs = 0;
  const up = Initial1764000000000.prototype.up;
  vi.spyOn(Initial1764000000000.prototype, 'up').mockImplementation(async function (this: unknown, q) {
    runs++;
    if (runs === 1) await held;
    else release();
    return up.call(this, q);
  });
  return { runs: () => runs, release: () => release() };
}

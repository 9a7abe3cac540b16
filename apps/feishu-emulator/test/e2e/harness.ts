import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  approvalCardUuid,
  type GatewayProcess as BaseGatewayProcess,
  createEmulator,
  type Emulator,
  type Message,
  type RunningEmulator,
  startGatewayProcess,
} from '../../src/index.js';

export const app = {
  appId: 'cli_e2e0000000001',
  appSecret: 'e2e-app-secret-0123456789',
  encryptKey: 'e2e-encrypt-key-0123456789',
  verificationToken: 'e2e-verification-token',
};
export const CHAT = 'oc_e2e_staff_chat';
/** The secret the sandbox platform signs result webhooks with; the gateway gets it as SANDBOX_WEBHOOK_SECRET. */
export const SANDBOX_WEBHOOK_SECRET = 'e2e-sandbox-webhook-secret-0123456789';

export interface Platform {
  readonly emulator: Emulator;
  readonly running: RunningEmulator;
}

export async function startPlatform(): Promise<Platform> {
  // Feishu's retry schedule (15 s, 5 min, 1 h, 6 h), compressed.
  const emulator = createEmulator({
    apps: [app],
    retrySchedule: [100, 200, 400, 800],
    deliveryTimeoutMs: 3000,
  });
  return { emulator, running: await emulator.listen() };
}

/** The gateway process, with the database it runs on (to restart another on it). */
export type GatewayProcess = BaseGatewayProcess & { readonly databaseUrl: string };

/**
 * A fresh database for one gateway (or several replicas): SQLite by default; with TEST_DATABASE=postgres, a
 * new database on the cluster TEST_POSTGRES_URL points at (scripts/postgres-for-tests.sh starts one).
 */
export function tempDatabaseUrl(): string {
  if (process.env.TEST_DATABASE === 'postgres') return freshPostgresDatabase();
  return `sqlite:${join(mkdtempSync(join(tmpdir(), 'feishu-exam-e2e-')), 'gateway.sqlite')}`;
}

function freshPostgresDatabase(): string {
  const server = process.env.TEST_POSTGRES_URL;
  if (!server)
    throw new Error('TEST_DATABASE=postgres needs TEST_POSTGRES_URL (scripts/postgres-for-tests.sh)');
  const name = `e2e_${randomBytes(6).toString('hex')}`;
  execFileSync('psql', [server, '-q', '-c', `CREATE DATABASE ${name}`], { stdio: 'ignore' });
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Writes a PROVIDERS_FILE into a fresh temporary folder; returns its path. */
export function providersFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'providers-')), 'providers.yaml');
  writeFileSync(file, yaml);
  return file;
}

/**
 * The real gateway, as a process, configured like production but with a fast outbox. `env` overrides
 * (`SANDBOX_WEBHOOK_SECRET: ''` turns the sandbox's result webhook off).
 */
export async function startGateway(
  platform: Platform,
  env: Record<string, string> = {},
  databaseUrl = tempDatabaseUrl(),
) {
  const gateway = await startGatewayProcess({
    FEISHU_APP_ID: app.appId,
    FEISHU_APP_SECRET: app.appSecret,
    FEISHU_ENCRYPT_KEY: app.encryptKey,
    FEISHU_VERIFICATION_TOKEN: app.verificationToken,
    FEISHU_DOMAIN: platform.running.url,
    APPROVAL_CHAT_ID: CHAT,
    ADMIN_TOKEN: 'e2e-admin-token-0123456789',
    DATABASE_URL: databaseUrl,
    OUTBOX_POLL_MS: '50',
    OUTBOX_BASE_DELAY_MS: '20',
    OUTBOX_MAX_DELAY_MS: '300',
    // The lease must be at least twice the longest call timeout (or the gateway raises it): a short one lets a
    // restarted gateway resume a killed one's jobs soon.
    FEISHU_TIMEOUT_MS: '2000',
    OUTBOX_LEASE_MS: '4000',
    SANDBOX_WEBHOOK_SECRET,
    ...env,
  });
  return Object.assign(gateway, { databaseUrl });
}

export const examPayload = (examId: string) => ({
  exam_id: examId,
  account_id: '7147998241542539527',
  paper_id: 'paper001',
  candidate_info: { name: '王二', mobile: { code: '86', number: '18900001111' }, email: 'xxx@abc.vom' },
});

/** The approval card the gateway posted for an exam (the message whose uuid names the exam). */
export function cardsFor(emulator: Emulator, examId: string): Message[] {
  return [...emulator.state.messages.values()].filter((m) => m.uuid === approvalCardUuid(examId));
}

export function loginInfoFor(emulator: Emulator, examId: string) {
  return emulator.state.loginInfo
    .filter((l) => l.examId === examId)
    .map(
      (l) =>
        l.body as {
          result: number;
          msg: string;
          exam_login_info: { exam_url: string; username?: string; password?: string };
        },
    );
}

let barriers = 0;

/**
 * The gateway's log, with every line it wrote before this call: lines are written in chunks (the gateway's
 * log.ts, lineDestination), so a line may reach the test a moment after what it tells of. A request to a path
 * nobody serves is logged at info (the access log) after every line before it: once that line is read, so are
 * they.
 */
export async function logsWritten(gateway: GatewayProcess): Promise<GatewayProcess['logs']> {
  const path = `/log-barrier-${++barriers}`;
  await fetch(`${gateway.url}${path}`);
  await until(`the log line of ${path}`, () => gateway.logs.some((l) => l.path === path));
  return gateway.logs;
}

export async function until<T>(
  what: string,
  // A check may read over HTTP: its promise is awaited (a promise is truthy, and was once taken for the answer).
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A staff member clicks a button of the exam's card (and again, if the gateway asks: `clickAsStaff`). */
export function clickFor(
  platform: Platform,
  gateway: GatewayProcess,
  examId: string,
  operator: string,
  action: 'approve' | 'reject',
  reason = '',
) {
  const card = cardsFor(platform.emulator, examId)[0];
  if (!card) throw new Error(`no card for ${examId}`);
  return platform.emulator.clickAsStaff({
    gatewayUrl: `${gateway.url}/webhook/card`,
    messageId: card.messageId,
    operatorOpenId: operator,
    value: { action, exam_id: examId },
    formValue: { reason },
    name: action,
  });
}

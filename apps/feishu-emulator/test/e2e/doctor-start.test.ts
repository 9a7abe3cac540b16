// `feishu-exam doctor` promises to check a deployment the way the gateway will use it, and to change nothing.
// Audit (operations): a configuration the gateway refuses at start must not pass the doctor, and a doctor run
// against a database that is not there must leave nothing behind.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, type RunningEmulator } from '../../src/index.js';
import { app, CHAT, tempDatabaseUrl } from './harness.js';

const gatewayDist = fileURLToPath(new URL('../../../gateway/dist/', import.meta.url));
let feishu: RunningEmulator;
beforeAll(async () => {
  feishu = await createEmulator({ apps: [{ ...app, chats: [CHAT] }] }).listen();
});
afterAll(() => feishu.close());

function run(script: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [join(gatewayDist, script), ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  // The gateway, if it starts, is stopped once it says it listens.
  child.stdout.on('data', () => {
    if (output.includes('"gateway listening"')) child.kill('SIGTERM');
  });
  return new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, output })),
  );
}

const healthy = () => ({
  FEISHU_APP_ID: app.appId,
  FEISHU_APP_SECRET: app.appSecret,
  FEISHU_ENCRYPT_KEY: app.encryptKey,
  FEISHU_DOMAIN: feishu.url,
  APPROVAL_CHAT_ID: CHAT,
  DATABASE_URL: tempDatabaseUrl(),
  PORT: '0',
  HOST: '127.0.0.1',
});

describe('feishu-exam doctor, against what the start does', () => {
  it('fails on a configuration the gateway refuses at start (the sandbox under NODE_ENV=production, as .env.example sets it)', async () => {
    const env = { ...healthy(), NODE_ENV: 'production' };
    expect((await run('cli/main.js', ['db', 'migrate'], env)).code).toBe(0);
    const start = await run('main.js', [], env);
    expect(start.code).toBe(78);
    expect(start.output).toMatch(/NODE_ENV=production refuses them/);

    const doctor = await run('cli/main.js', ['doctor'], env);
    expect(doctor.output).not.toMatch(/✓ all checks passed/);
    expect(doctor.output).toMatch(/✗ providers: .*NODE_ENV=production refuses them/);
    expect(doctor.code).toBe(1);
  });

  it.skipIf(process.env.TEST_DATABASE === 'postgres')(
    'creates no database file where DATABASE_URL names none (a typo), and says there is none',
    async () => {
      const folder = mkdtempSync(join(tmpdir(), 'doctor-'));
      const file = join(folder, 'data', 'feishu-exam.sqlite');
      const doctor = await run('cli/main.js', ['doctor'], {
        ...healthy(),
        ALLOW_SANDBOX_PROVIDER: 'true',
        DATABASE_URL: `sqlite:${file}`,
      });
      expect(doctor.code).toBe(1);
      expect(existsSync(file)).toBe(false);
      expect(existsSync(join(folder, 'data'))).toBe(false);
      expect(doctor.output).toMatch(/✗ database: no database at /);
    },
  );
});

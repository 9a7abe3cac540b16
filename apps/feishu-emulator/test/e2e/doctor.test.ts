// `feishu-exam doctor` and `feishu-exam db …`, run as an operator runs them (the built command, its own
// process) against the emulator: a healthy setup, and one broken in each way the doctor looks for.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator, type RunningEmulator } from '../../src/index.js';
import { app, CHAT, providersFile, tempDatabaseUrl } from './harness.js';

const gatewayDist = fileURLToPath(new URL('../../../gateway/dist/', import.meta.url));
let emulator: Emulator;
let feishu: RunningEmulator;
beforeAll(async () => {
  // The bot is in the staff chat only.
  emulator = createEmulator({ apps: [{ ...app, chats: [CHAT] }] });
  feishu = await emulator.listen();
});
afterAll(() => feishu.close());

/** A command of the built gateway (`cli/main.js`, or `main.js` itself, stopped once it says it listens). */
function runScript(script: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [join(gatewayDist, script), ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
    if (output.includes('"gateway listening"')) child.kill('SIGTERM');
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  return new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, output })),
  );
}
const run = (args: string[], env: Record<string, string>) => runScript('cli/main.js', args, env);

const healthy = () => ({
  FEISHU_APP_ID: app.appId,
  FEISHU_APP_SECRET: app.appSecret,
  FEISHU_ENCRYPT_KEY: app.encryptKey,
  FEISHU_DOMAIN: feishu.url,
  APPROVAL_CHAT_ID: CHAT,
  DATABASE_URL: tempDatabaseUrl(),
  ALLOW_SANDBOX_PROVIDER: 'true',
});

describe('feishu-exam doctor', () => {
  it('passes on a healthy setup, one line per check, and sends no message', async () => {
    const env = healthy();
    expect((await run(['db', 'migrate'], env)).code).toBe(0);
    const { code, output } = await run(['doctor'], env);
    expect(output).toMatch(/✓ configuration/);
    // The start's warnings, printed and not counted as failures: no approver list, no verification token.
    expect(output).toMatch(/! configuration: APPROVER_OPEN_IDS is empty/);
    expect(output).toMatch(/! configuration: FEISHU_VERIFICATION_TOKEN is not set/);
    expect(output).toMatch(/✓ database: reachable and migrated/);
    expect(output).toMatch(/✓ Feishu token/);
    expect(output).toMatch(new RegExp(`✓ staff chat: the bot can see ${CHAT}`));
    expect(output).toMatch(/✓ provider sandbox: answers \(2 papers\)/);
    expect(output).toMatch(/✓ all checks passed/);
    expect(code).toBe(0);
    expect(output).not.toContain(app.appSecret);
    expect(emulator.state.messages.size).toBe(0);
    expect(emulator.state.calls.some((c) => c.path === `/open-apis/im/v1/chats/${CHAT}`)).toBe(true);
  });

  it('names what is broken and what to fix: pending migrations, a wrong secret, a chat the bot is not in, a bad providers file', async () => {
    // A database with no migrations applied (an empty file is an empty SQLite database; the doctor creates
    // none where there is no file).
    const unmigratedEnv = healthy();
    if (unmigratedEnv.DATABASE_URL.startsWith('sqlite:'))
      writeFileSync(unmigratedEnv.DATABASE_URL.slice('sqlite:'.length), '');
    const unmigrated = await run(['doctor'], unmigratedEnv);
    expect(unmigrated.code).toBe(1);
    expect(unmigrated.output).toMatch(
      /✗ database: reachable, but migrations are pending\n\s+fix: run `feishu-exam db migrate`/,
    );

    const wrongSecret = await run(['doctor'], { ...healthy(), FEISHU_APP_SECRET: 'not-the-secret-000' });
    expect(wrongSecret.code).toBe(1);
    expect(wrongSecret.output).toMatch(
      /✗ Feishu token: .*\n\s+fix: check FEISHU_APP_ID and FEISHU_APP_SECRET/,
    );

    const otherChat = await run(['doctor'], { ...healthy(), APPROVAL_CHAT_ID: 'oc_not_the_staff_chat' });
    expect(otherChat.code).toBe(1);
    expect(otherChat.output).toMatch(
      /✗ staff chat: the bot cannot see oc_not_the_staff_chat.*\n\s+fix: add the bot/,
    );

    const file = providersFile('providers:\n  - id: p\n    type: no-such-type\n');
    const badProviders = await run(['doctor'], { ...healthy(), PROVIDERS_FILE: file });
    expect(badProviders.code).toBe(1);
    expect(badProviders.output).toMatch(/✗ providers: .*no-such-type/);

    const badConfig = await run(['doctor'], { FEISHU_APP_SECRET: 's' });
    expect(badConfig.code).toBe(1);
    expect(badConfig.output).toMatch(/✗ configuration: FEISHU_APP_ID/);
    // Five processes, one after another (each connects to the database and to Feishu): more than the suite's 20 s
    // on a loaded machine (CI on PostgreSQL).
  }, 90_000);

  // The doctor checks a deployment the way the gateway will use it, and changes nothing: a configuration the
  // start refuses must not pass it, and a database that is not there must not be created by it.
  it('fails on a configuration the gateway refuses at start (the sandbox under NODE_ENV=production, as .env.example sets it)', async () => {
    const { ALLOW_SANDBOX_PROVIDER: _, ...noSandboxAllowed } = healthy();
    const env = { ...noSandboxAllowed, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1' };
    expect((await run(['db', 'migrate'], env)).code).toBe(0);
    const start = await runScript('main.js', [], env);
    expect(start.code).toBe(78);
    expect(start.output).toMatch(/NODE_ENV=production refuses them/);

    const doctor = await run(['doctor'], env);
    expect(doctor.output).not.toMatch(/✓ all checks passed/);
    expect(doctor.output).toMatch(/✗ providers: .*NODE_ENV=production refuses them/);
    expect(doctor.code).toBe(1);
  });

  it.skipIf(process.env.TEST_DATABASE === 'postgres')(
    'creates no database file where DATABASE_URL names none (a typo), and says there is none',
    async () => {
      const folder = mkdtempSync(join(tmpdir(), 'doctor-'));
      const file = join(folder, 'data', 'feishu-exam.sqlite');
      const doctor = await run(['doctor'], { ...healthy(), DATABASE_URL: `sqlite:${file}` });
      expect(doctor.code).toBe(1);
      expect(existsSync(file)).toBe(false);
      expect(existsSync(join(folder, 'data'))).toBe(false);
      expect(doctor.output).toMatch(/✗ database: no database at /);
    },
  );
});

// SQLite's online backup; on PostgreSQL the command points to pg_dump (a unit test checks that).
describe.skipIf(process.env.TEST_DATABASE === 'postgres')('feishu-exam db backup', () => {
  it('backs up the SQLite database online into a new file, and never overwrites one', async () => {
    const env = healthy();
    expect((await run(['db', 'migrate'], env)).code).toBe(0);
    const target = join(env.DATABASE_URL.slice('sqlite:'.length, -'gateway.sqlite'.length), 'copy.sqlite');
    const first = await run(['db', 'backup', target], env);
    expect(first.output).toMatch(/✓ backed up to/);
    expect(first.code).toBe(0);
    expect(existsSync(target)).toBe(true);
    const again = await run(['db', 'backup', target], env);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/exists/);
  });
});

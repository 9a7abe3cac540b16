import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envelopeV2, seal } from '@feishu-exam/event-core';
import { afterEach, describe, expect, it } from 'vitest';
import { baseEnv, post, secrets, tempDatabaseUrl } from './support.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** Every gateway a test started: killed after it, so that a test that failed halfway leaves none running. */
const started = new Set<ChildProcess>();
afterEach(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
});

function run(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: 'pipe',
  });
  started.add(child);
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return { child, output: () => output };
}

async function listeningUrl(output: () => string): Promise<string> {
  // Up to 60 s: a start migrates a new database, and a loaded machine (CI) took more than the 5 s this waited.
  for (let i = 0; i < 2400; i++) {
    const line = output()
      .split('\n')
      .find((l) => l.includes('"gateway listening"'));
    if (line) return (JSON.parse(line) as { url: string }).url;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the gateway did not start:\n${output()}`);
}

// Each test starts the gateway as a process: a start may take a while on a loaded machine (listeningUrl).
describe('the gateway process', { timeout: 90_000 }, () => {
  it('refuses to start on a bad configuration, listing each problem, and exits with EX_CONFIG', async () => {
    const { child, output } = run({ PORT: '70000' });
    const [code] = await once(child, 'exit');
    expect(code).toBe(78);
    expect(output()).toMatch(/FEISHU_APP_ID is required/);
    expect(output()).toMatch(/PORT must be a whole number/);
  });

  it('exits 78 with one clear line when the database cannot be opened (it used to hang under /proc)', async () => {
    const { child, output } = run({
      ...baseEnv,
      DATABASE_URL: 'sqlite:/proc/no-such-place/x.sqlite',
    } as Record<string, string>);
    const [code] = await once(child, 'exit');
    expect(code).toBe(78);
    expect(output()).toMatch(
      /DATABASE_URL sqlite:\/proc\/no-such-place\/x\.sqlite: the database cannot be opened/,
    );
    expect(output()).not.toMatch(/"level":"fatal"/);
  });

  it('the start-up line says which secrets are set and which are not, and names the providers in use', async () => {
    const { child, output } = run({
      ...baseEnv,
      FEISHU_VERIFICATION_TOKEN: '',
      DATABASE_URL: tempDatabaseUrl(),
    } as Record<string, string>);
    await listeningUrl(output);
    child.kill('SIGTERM');
    await once(child, 'exit');
    const line = JSON.parse(
      output()
        .split('\n')
        .find((l) => l.includes('"gateway listening"')) ?? '{}',
    ) as {
      config: Record<string, unknown>;
      providers: string[];
    };
    expect(line.config.verificationTokenIs).toBe('not set');
    expect(line.config.encryptKeyIs).toBe('set');
    expect(line.providers).toEqual(['sandbox']);
    expect(output()).not.toContain(secrets.appSecret);
  });

  it('refuses to start on a broken PROVIDERS_FILE, naming the file, the line and what to fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'providers-'));
    const file = join(dir, 'providers.yaml');
    writeFileSync(
      file,
      [
        'providers:',
        '  - id: acme',
        '    type: http',
        '    options:',
        '      baseUrl: https://api.acme.example',
        '      createExam:',
        '        path: /v1/x',
        '        body: { who: "{{candidate.shoe_size}}" }',
        '        response: { examUrl: $.url }',
      ].join('\n'),
    );
    const { child, output } = run({ ...baseEnv, DATABASE_URL: tempDatabaseUrl(), PROVIDERS_FILE: file });
    const [code] = await once(child, 'exit');
    expect(code).toBe(78);
    expect(output()).toContain(`${file}:8: provider acme (http): options.createExam.body`);
    expect(output()).toMatch(/unknown variable \{\{candidate\.shoe_size\}\}/);
  });

  it('starts, serves, logs JSON without secrets, and stops cleanly on SIGTERM', async () => {
    const { child, output } = run({ ...baseEnv, LOG_LEVEL: 'info', DATABASE_URL: tempDatabaseUrl() });
    const url = await listeningUrl(output);
    const sealed = seal(
      envelopeV2(
        'hire.eco_exam.created_v1',
        { exam_id: 'proc-1', candidate_info: { email: 'a.b@example.com' } },
        {
          token: secrets.verificationToken,
        },
      ),
      { encryptKey: secrets.encryptKey },
    );
    expect((await post(`${url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    const lines = output().trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(output()).toContain('"msg":"stopped"');
    for (const secret of [
      secrets.appSecret,
      secrets.encryptKey,
      secrets.verificationToken,
      'a.b@example.com',
    ]) {
      expect(output()).not.toContain(secret);
    }
  });

  // A shutdown waits for in-flight requests; one that never finishes (a body that stops arriving) holds it.
  // An operator who presses Ctrl-C after `docker stop` or `systemctl stop`, or signals twice, wants out now.
  for (const [first, second] of [
    ['SIGTERM', 'SIGTERM'],
    ['SIGTERM', 'SIGINT'],
  ] as const)
    it(`a second signal (${first} then ${second}) ends a shutdown held by a stalled request, logged, exit 1`, async () => {
      const { child, output } = run({ ...baseEnv, LOG_LEVEL: 'info', DATABASE_URL: tempDatabaseUrl() });
      const { hostname, port } = new URL(await listeningUrl(output));
      const socket = connect(Number(port), hostname);
      await once(socket, 'connect');
      socket.on('error', () => undefined);
      socket.write(
        'POST /webhook/event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sch',
      );
      const exited = once(child, 'exit');
      child.kill(first);
      while (!output().includes('"shutting down')) await new Promise((r) => setTimeout(r, 25));
      child.kill(second);
      const [code, signal] = await exited;
      socket.destroy();
      expect({ code, signal }).toEqual({ code: 1, signal: null });
      // The last line is written: the async log is flushed on this way out too.
      expect(output()).toContain('second signal');
      expect(output()).not.toContain('took longer than');
    });
  it('a crash is logged through the secret filter and ends the process with exit 1, nothing raw on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-crash-'));
    const crash = join(dir, 'crash.mjs');
    // Once the gateway is up (it has its handler; or after 10 s without one), something throws with a secret in
    // its message, as a far side's echo could.
    writeFileSync(
      crash,
      `const started = Date.now();\n` +
        `const timer = setInterval(() => {\n` +
        `  if (process.listenerCount('uncaughtException') === 0 && Date.now() - started < 10_000) return;\n` +
        `  clearInterval(timer);\n` +
        `  throw new Error('boom: app_secret ' + process.env.FEISHU_APP_SECRET);\n` +
        `}, 20);\n`,
    );
    const { child, output } = run({
      ...baseEnv,
      DATABASE_URL: tempDatabaseUrl(),
      NODE_OPTIONS: `--import ${crash}`,
    } as Record<string, string>);
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(output()).toMatch(/"level":"fatal".*"uncaught exception: exiting"/);
    expect(output()).toContain('boom');
    expect(output()).not.toContain(secrets.appSecret);
  });
});

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  app,
  CHAT,
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  logsWritten,
  type Platform,
  startGateway,
  startPlatform,
  tempDatabaseUrl,
  until,
} from './harness.js';

/**
 * A third party's provider package, installed as npm installs it: the fixture (its own package.json, plain
 * ESM, living outside the workspace) is copied into node_modules next to a providers file, with its peer
 * dependencies (@feishu-exam/exam-providers and zod) beside it, and named there with `package:`.
 */
const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const gatewaySrc = fileURLToPath(new URL('../../../gateway/src/', import.meta.url));
const gatewayMain = fileURLToPath(new URL('../../../gateway/dist/main.js', import.meta.url));
const QUIZLY = '@acme/feishu-exam-provider-quizly';
const API_KEY = 'quizly-e2e-key-0123456789';

/** A folder holding providers.yaml and node_modules as `npm install <packages>` leaves them there. */
function installFolder(packages: Record<string, string>, yaml: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'provider-package-'));
  const modules = join(folder, 'node_modules');
  for (const [name, fixture] of Object.entries(packages)) {
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    cpSync(join(fixtures, fixture), join(modules, name), { recursive: true });
  }
  // The peers npm installs beside it: this workspace's exam-providers, and the zod it uses.
  const examProviders = realpathSync(
    fileURLToPath(new URL('../../../../packages/exam-providers', import.meta.url)),
  );
  const zod = dirname(createRequire(join(examProviders, 'package.json')).resolve('zod/package.json'));
  mkdirSync(join(modules, '@feishu-exam'), { recursive: true });
  symlinkSync(examProviders, join(modules, '@feishu-exam', 'exam-providers'), 'dir');
  symlinkSync(zod, join(modules, 'zod'), 'dir');
  const file = join(folder, 'providers.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** A fake Quizly: sittings by reference; one finishes when the test says so. */
const sittings = new Map<string, { id: string; url: string; finished?: { score: number; at: string } }>();
const seen: Array<{ method?: string; url?: string; auth?: string }> = [];
const quizly = createServer((req, res) => {
  let text = '';
  req.on('data', (c) => {
    text += c;
  });
  req.on('end', () => {
    seen.push({ method: req.method, url: req.url, auth: req.headers.authorization });
    res.setHeader('content-type', 'application/json');
    if (req.headers.authorization !== `Bearer ${API_KEY}`) return res.writeHead(401).end('{}');
    if (req.method === 'POST' && req.url === '/api/sittings') {
      const body = JSON.parse(text) as { reference: string };
      const sitting = sittings.get(body.reference) ?? {
        id: `qz-${sittings.size + 1}`,
        url: `https://take.quizly.example/${body.reference}`,
      };
      sittings.set(body.reference, sitting);
      return res.end(JSON.stringify({ id: sitting.id, url: sitting.url }));
    }
    const sitting = [...sittings.values()].find((s) => req.url === `/api/sittings/${s.id}`);
    if (!sitting) return res.writeHead(404).end('{}');
    return res.end(
      JSON.stringify(
        sitting.finished
          ? {
              status: 'finished',
              score: sitting.finished.score,
              finishedAt: sitting.finished.at,
              reportUrl: `https://quizly.example/report/${sitting.id}`,
            }
          : { status: 'in_progress' },
      ),
    );
  });
});

let platform: Platform;
let gateway: GatewayProcess;
let quizlyUrl: string;
let installedFile: string;
beforeAll(async () => {
  await new Promise<void>((r) => quizly.listen(0, '127.0.0.1', r));
  quizlyUrl = `http://127.0.0.1:${(quizly.address() as AddressInfo).port}`;
  installedFile = installFolder(
    { [QUIZLY]: 'quizly-provider' },
    `defaultProvider: quizly
providers:
  - id: quizly
    package: "${QUIZLY}"
    options:
      baseUrl: ${quizlyUrl}
`,
  );
  platform = await startPlatform();
  gateway = await startGateway(platform, {
    PROVIDERS_FILE: installedFile,
    QUIZLY_API_KEY: API_KEY,
    RESULT_POLL_INTERVAL_MS: '150',
  });
});
afterAll(async () => {
  await gateway?.stop();
  await platform?.running.close();
  quizly.close();
});

describe('a provider package installed next to the providers file', () => {
  it('is not known to the gateway’s source', () => {
    const sources = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sources(join(dir, e.name)) : [readFileSync(join(dir, e.name), 'utf8')],
      );
    expect(sources(gatewaySrc).filter((text) => /quizly/i.test(text))).toEqual([]);
  });

  it('`feishu-exam providers check` accepts the file, as the start did', () => {
    const cli = fileURLToPath(new URL('../../../gateway/dist/cli/main.js', import.meta.url));
    const run = spawnSync(process.execPath, [cli, 'providers', 'check', installedFile], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', QUIZLY_API_KEY: API_KEY },
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.split('\n')).toEqual([
      '  quizly (default): polled results',
      `✓ ${installedFile}: 1 provider(s) build`,
      '',
    ]);
    expect(run.status).toBe(0);
  });

  it('arranges the exam: login_info carries its link', async () => {
    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload('e2e-quizly'));
    await until('the card', () => cardsFor(platform.emulator, 'e2e-quizly')[0]);
    await clickFor(platform, gateway, 'e2e-quizly', 'ou_staff', 'approve');
    const [info] = await until(
      'login_info',
      () =>
        loginInfoFor(platform.emulator, 'e2e-quizly').length > 0 &&
        loginInfoFor(platform.emulator, 'e2e-quizly'),
    );
    expect(info).toMatchObject({
      result: 0,
      exam_login_info: { exam_url: 'https://take.quizly.example/e2e-quizly' },
    });
    const logs = await logsWritten(gateway);
    expect(logs.find((l) => l.msg === 'exam arranged on the platform')).toMatchObject({
      provider: 'quizly',
      platformExamId: 'qz-1',
    });
    expect(JSON.stringify(logs)).not.toContain(API_KEY);
  });

  it('polls its result and sends it with update_result', async () => {
    await until('a poll of the unfinished sitting', () => seen.some((s) => s.url === '/api/sittings/qz-1'));
    expect(platform.emulator.state.results.filter((r) => r.examId === 'e2e-quizly')).toEqual([]);
    const sitting = sittings.get('e2e-quizly');
    if (!sitting) throw new Error('no sitting');
    sitting.finished = { score: 87.5, at: '2026-03-01T10:00:00.000Z' };
    const [update] = await until('update_result', () => {
      const results = platform.emulator.state.results.filter((r) => r.examId === 'e2e-quizly');
      return results.length > 0 && results;
    });
    expect(update?.body).toEqual({
      result: '87.5',
      result_time: String(Date.parse('2026-03-01T10:00:00.000Z')),
      report_list: [{ name: 'Quizly report', url: 'https://quizly.example/report/qz-1' }],
    });
  });
});

/** The gateway started on a providers file that cannot work: its exit code and its problem lines. */
async function failedStart(file: string): Promise<{ code: number | null; problems: string[] }> {
  const child = spawn(process.execPath, [gatewayMain], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      FEISHU_APP_ID: app.appId,
      FEISHU_APP_SECRET: app.appSecret,
      FEISHU_ENCRYPT_KEY: app.encryptKey,
      FEISHU_VERIFICATION_TOKEN: app.verificationToken,
      APPROVAL_CHAT_ID: CHAT,
      ADMIN_TOKEN: 'e2e-admin-token-0123456789',
      DATABASE_URL: tempDatabaseUrl(),
      PROVIDERS_FILE: file,
      QUIZLY_API_KEY: API_KEY,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdout.resume();
  const [code] = await once(child, 'exit');
  return { code, problems: stderr.split('\n').filter((l) => l.startsWith('  - ')) };
}

describe('a provider package that cannot be used stops the start with one line naming file, line and package', () => {
  it('not installed: says where it looked and what to run', async () => {
    const file = installFolder(
      {},
      `defaultProvider: quizly\nproviders:\n  - id: quizly\n    package: "${QUIZLY}"\n`,
    );
    const { code, problems } = await failedStart(file);
    expect(code).toBe(78);
    expect(problems).toEqual([
      `  - ${file}:4: provider quizly: package "${QUIZLY}" is not installed: no node_modules/${QUIZLY} from ${dirname(file)} upwards, nor from the gateway's folder; run \`npm install ${QUIZLY}\` in ${dirname(file)}`,
    ]);
  });

  it('exports no factory: says how to make one', async () => {
    const name = '@acme/feishu-exam-provider-nofactory';
    const file = installFolder(
      { [name]: 'no-factory-provider' },
      `providers:\n  - id: quizly\n    papers: [q1]\n    package: "${name}"\n`,
    );
    const { code, problems } = await failedStart(file);
    expect(code).toBe(78);
    expect(problems).toEqual([
      `  - ${file}:4: provider quizly: package "${name}" exports no provider factory: its default export (or an export named \`provider\`) must be made with defineProvider from @feishu-exam/exam-providers`,
    ]);
  });

  it('bad options: the option’s line, and the package whose options they are', async () => {
    const file = installFolder(
      { [QUIZLY]: 'quizly-provider' },
      `defaultProvider: quizly\nproviders:\n  - id: quizly\n    package: "${QUIZLY}"\n    options:\n      baseUrl: not a url\n`,
    );
    const { code, problems } = await failedStart(file);
    expect(code).toBe(78);
    expect(problems).toEqual([
      `  - ${file}:6: provider quizly (package ${QUIZLY}): options.baseUrl: Invalid URL`,
    ]);
  });
});

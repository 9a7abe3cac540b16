import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeHackerRank } from '@feishu-exam/provider-hackerrank/fake';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/output.js';
import { runCli } from '../src/cli/program.js';

const repo = realpathSync(fileURLToPath(new URL('../../../', import.meta.url)));

/** The CLI in-process: what it printed, and its exit code. */
async function cli(args: string[], env: Record<string, string | undefined> = {}, cwd = repo) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env, cwd };
  const code = await runCli(args, io);
  return { code, out, err };
}

function tempFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cli-')), 'providers.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** Every example providers file in the repository (outside node_modules). */
function exampleFiles(dir = repo): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) return [];
    const path = join(dir, e.name);
    if (e.isDirectory()) return exampleFiles(path);
    return /providers\.ya?ml$/.test(e.name) && path.includes('/examples/') ? [path] : [];
  });
}

/** An environment where every secret a file names is set. */
const anySecret = new Proxy(
  {},
  { get: (_, name) => (typeof name === 'string' ? `example-${name}` : undefined) },
);

describe('feishu-exam providers check', () => {
  it('passes on every example providers file', async () => {
    const files = exampleFiles();
    expect(files.map((f) => relative(repo, f))).toEqual(
      expect.arrayContaining([
        'packages/exam-providers/examples/acme.providers.yaml',
        'packages/provider-hackerrank/examples/hackerrank.providers.yaml',
      ]),
    );
    for (const file of files) {
      const { code, out, err } = await cli(['providers', 'check', file], anySecret);
      expect(err, file).toEqual([]);
      expect(code).toBe(0);
      expect(out.at(-1)).toMatch(/^✓ .*: \d provider\(s\) build$/);
    }
  });

  it('reports what the start would, one line each, and exits 1', async () => {
    const file = tempFile(
      'providers:\n  - id: a\n    package: "@acme/nowhere"\n  - id: b\n    type: sandbox\n    options: { failureRate: 2 }\n',
    );
    const { code, err } = await cli(['providers', 'check', file]);
    expect(code).toBe(1);
    expect(err).toEqual([
      expect.stringMatching(new RegExp(`^${file}:3: provider a: package "@acme/nowhere" is not installed`)),
      expect.stringMatching(new RegExp(`^${file}:6: provider b \\(sandbox\\): options\\.failureRate`)),
      `✗ ${file}: 2 problem(s); the gateway would not start with this file`,
    ]);
  });

  it('a missing secret is a problem, as at the start (the environment is the CLI’s)', async () => {
    const file = join(repo, 'packages/provider-hackerrank/examples/hackerrank.providers.yaml');
    const { code, err } = await cli(['providers', 'check', file], {});
    expect(code).toBe(1);
    expect(err[0]).toMatch(
      /hackerrank\.providers\.yaml:\d+: provider hackerrank .*HACKERRANK_API_KEY is not set/,
    );
  });
});

describe('feishu-exam providers test', () => {
  it('runs the conformance kit against the platform the file points at, printing each check as it passes', async () => {
    const hr = await startFakeHackerRank({ apiKey: 'hr-cli-key-0123456789' });
    try {
      const file = tempFile(
        `providers:\n  - id: hr\n    package: "@feishu-exam/provider-hackerrank"\n    options: { baseUrl: "${hr.url}" }\n`,
      );
      const { code, out } = await cli(
        ['providers', 'test', file, '--provider', 'hr', '--paper', '101', '--email', 'staff@example.com'],
        { HACKERRANK_API_KEY: hr.apiKey },
      );
      expect(out[0]).toMatch(/^provider hr \(hackerrank\): \d+ checks against the live platform$/);
      const passed = out.filter((l) => / ✓ /.test(l));
      expect(passed.map((l) => l.replace(/ \(\d+ ms\)$/, ''))).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^\[1\/\d+\] ✓ builds from valid options/),
          expect.stringMatching(/✓ arranges an exam/),
          expect.stringMatching(/✓ is idempotent/),
          expect.stringMatching(/✓ fetchResult/),
          expect.stringMatching(/✓ listPapers/),
          expect.stringMatching(/✓ accountFields/),
        ]),
      );
      expect(out.at(-1)).toMatch(/^✓ all \d+ checks passed$/);
      expect(code).toBe(0);
      expect(hr.candidates.map((c) => c.email)).toContain('staff@example.com');
    } finally {
      await hr.close();
    }
  });

  it('a failing check is printed with its reason, and the exit code is 1', async () => {
    const file = tempFile(
      'providers:\n  - id: hr\n    package: "@feishu-exam/provider-hackerrank"\n    options: { baseUrl: "http://127.0.0.1:9" }\n',
    );
    const { code, out } = await cli(
      ['providers', 'test', file, '--provider', 'hr', '--paper', '101', '--email', 'a@example.com'],
      { HACKERRANK_API_KEY: 'k' },
    );
    expect(out).toContainEqual(expect.stringMatching(/✗ arranges an exam.*: .*HackerRank/));
    expect(out.at(-1)).toMatch(/^✗ \d+ of \d+ checks failed$/);
    expect(code).toBe(1);
  });

  it('names the providers the file has when --provider is not one', async () => {
    const file = tempFile('providers:\n  - id: s\n    type: sandbox\n');
    const { code, err } = await cli([
      'providers',
      'test',
      file,
      '--provider',
      'x',
      '--paper',
      'p',
      '--email',
      'e@x.y',
    ]);
    expect(code).toBe(1);
    expect(err).toEqual([`${file}: no provider "x"; the file has s`]);
  });
});

describe('feishu-exam providers scaffold', () => {
  it('writes a provider package that passes its own test and typechecks, out of the box', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scaffold-'));
    return (async () => {
      const { code, out } = await cli(
        ['providers', 'scaffold', '@acme/feishu-exam-provider-quizly', '--dir', 'quizly'],
        {},
        dir,
      );
      expect(code).toBe(0);
      expect(out.at(-2)).toMatch(/✓ @acme\/feishu-exam-provider-quizly \(provider id "quizly"\)/);
      const pkg = join(dir, 'quizly');
      // node_modules as `npm install` would leave it, from this workspace's copies (CI installs nothing).
      linkDependencies(pkg);
      const test = spawnSync(process.execPath, [join(pkg, 'node_modules/vitest/vitest.mjs'), 'run'], {
        cwd: pkg,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', CI: 'true', NO_COLOR: '1' },
      });
      expect(test.status, test.stdout + test.stderr).toBe(0);
      expect(test.stdout).toMatch(/Tests +9 passed/);
      const typecheck = spawnSync(
        process.execPath,
        [join(pkg, 'node_modules/typescript/bin/tsc'), '-p', pkg],
        {
          cwd: pkg,
          encoding: 'utf8',
        },
      );
      expect(typecheck.status, typecheck.stdout + typecheck.stderr).toBe(0);
    })();
  }, 120_000);

  it('refuses a folder that is not empty, and a name npm would not take', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scaffold-'));
    writeFileSync(join(dir, 'x'), '');
    expect((await cli(['providers', 'scaffold', 'quizly', '--dir', '.'], {}, dir)).err).toEqual([
      `✗ ${dir} exists and is not empty; give another folder with --dir`,
    ]);
    expect((await cli(['providers', 'scaffold', 'Quiz Ly'], {}, dir)).code).toBe(1);
  });
});

function linkDependencies(pkg: string): void {
  const gateway = fileURLToPath(new URL('../', import.meta.url));
  const sources: Record<string, string> = {
    '@feishu-exam/exam-providers': join(repo, 'packages/exam-providers'),
    zod: realpathSync(join(gateway, 'node_modules/zod')),
    vitest: realpathSync(join(gateway, 'node_modules/vitest')),
    typescript: realpathSync(join(repo, 'node_modules/typescript')),
    '@types/node': realpathSync(join(repo, 'node_modules/@types/node')),
  };
  for (const [name, source] of Object.entries(sources)) {
    mkdirSync(join(pkg, 'node_modules', name, '..'), { recursive: true });
    symlinkSync(source, join(pkg, 'node_modules', name), 'dir');
  }
}

describe('the package', () => {
  const gateway = fileURLToPath(new URL('../', import.meta.url));

  it('the bin runs as a process: `feishu-exam providers check` exits 1 with the file’s problems', () => {
    const file = tempFile('providers:\n  - id: a\n    package: "@acme/nowhere"\n');
    const run = spawnSync(process.execPath, [join(gateway, 'dist/cli/main.js'), 'providers', 'check', file], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(run.status).toBe(1);
    expect(run.stderr.split('\n')[0]).toMatch(new RegExp(`^${file}:3: provider a: package "@acme/nowhere"`));
  });

  it('importing @feishu-exam/gateway gives the library and starts nothing (main.js is the server’s entry)', () => {
    const run = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const g = await import('@feishu-exam/gateway'); console.log(typeof g.startGateway, typeof g.loadConfig);",
      ],
      { cwd: gateway, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
    );
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('function function');
    expect(run.status).toBe(0);
  });
});

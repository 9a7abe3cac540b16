import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { CliIo } from './output.js';
import { type ScaffoldNames, scaffoldFiles } from './scaffold-templates.js';

const PREFIX = 'feishu-exam-provider-';

/** The names of a new provider package, from what was typed: "testlab", or a full npm name. */
export function scaffoldNames(name: string, id?: string): ScaffoldNames | string {
  const packageName = name.startsWith('@') || name.startsWith(PREFIX) ? name : `${PREFIX}${name}`;
  if (!/^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/.test(packageName))
    return `"${packageName}" is not an npm package name (lowercase letters, digits, - . _, an optional @scope/)`;
  const derived = (packageName.split('/').pop() ?? '').replace(PREFIX, '').replace(/[^a-z0-9_-]/g, '-');
  const providerId = id ?? derived;
  if (!/^[a-z][a-z0-9_-]*$/.test(providerId))
    return `the provider id "${providerId}" must be lowercase letters, digits, - or _, starting with a letter (give one with --id)`;
  const words = providerId.split(/[-_]/).filter(Boolean);
  return {
    packageName,
    id: providerId,
    pascal: words.map((w) => w[0]?.toUpperCase() + w.slice(1)).join(''),
    apiKeyEnv: `${words.join('_').toUpperCase()}_API_KEY`,
    contractRange: `^${contractVersion()}`,
  };
}

/** The version of @feishu-exam/exam-providers this gateway runs: the new package peers on it. */
function contractVersion(): string {
  const require = createRequire(import.meta.url);
  const manifest = JSON.parse(
    readFileSync(require.resolve('@feishu-exam/exam-providers/package.json'), 'utf8'),
  ) as {
    version: string;
  };
  return manifest.version;
}

/** `feishu-exam providers scaffold <name>`: writes a provider package that passes its own test. */
export function scaffold(
  name: string,
  options: { dir?: string | undefined; id?: string | undefined },
  io: CliIo,
): number {
  const names = scaffoldNames(name, options.id);
  if (typeof names === 'string') {
    io.err(`✗ ${names}`);
    return 1;
  }
  const target = resolve(io.cwd, options.dir ?? names.packageName.split('/').pop() ?? names.id);
  if (existsSync(target) && readdirSync(target).length > 0) {
    io.err(`✗ ${target} exists and is not empty; give another folder with --dir`);
    return 1;
  }
  for (const [path, text] of Object.entries(scaffoldFiles(names))) {
    mkdirSync(dirname(join(target, path)), { recursive: true });
    writeFileSync(join(target, path), text);
    io.out(`  wrote ${path}`);
  }
  io.out(`✓ ${names.packageName} (provider id "${names.id}") in ${target}`);
  io.out(`  next: cd ${target} && npm install && npm test`);
  return 0;
}

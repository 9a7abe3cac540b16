import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultProviderContext } from '@feishu-exam/exam-providers';
import { describe, expect, it } from 'vitest';
import { loadProvidersFromFile } from '../src/providers/load.js';

const ctx = {
  ...defaultProviderContext({}),
  secret: (name: string) => (name === 'HACKERRANK_API_KEY' ? 'k' : undefined),
};

/** A providers file in a folder of its own, with no node_modules: packages resolve from the gateway's. */
function file(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'provider-files-')), 'providers.yaml');
  writeFileSync(path, yaml);
  return path;
}

describe('the providers file as the gateway loads it', () => {
  it('loads the HackerRank package by name from the gateway’s own dependencies', async () => {
    const result = await loadProvidersFromFile(
      file('providers:\n  - id: hr\n    package: "@feishu-exam/provider-hackerrank"\n'),
      ctx,
    );
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.registry.get('hr')?.accountFields?.map((f) => f.key)).toEqual(['hackerrank_tag']);
  });

  it('`type: hackerrank`, written when it was built in, is an alias of the package', async () => {
    const result = await loadProvidersFromFile(file('providers:\n  - id: hr\n    type: hackerrank\n'), ctx);
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect([...result.registry.providers.keys()]).toEqual(['hr']);
    const noKey = await loadProvidersFromFile(file('providers:\n  - id: hr\n    type: hackerrank\n'), {
      ...ctx,
      secret: () => undefined,
    });
    expect(noKey.ok ? [] : noKey.errors).toEqual([
      expect.stringMatching(
        /providers\.yaml:2: provider hr \(package @feishu-exam\/provider-hackerrank\): options\.apiKeySecret: .*HACKERRANK_API_KEY/,
      ),
    ]);
  });

  it('a package that throws while loading is one line naming it and what it threw', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'provider-files-')), 'providers.yaml');
    const pkg = join(file, '..', 'node_modules', 'broken-provider');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ type: 'module', exports: './index.js' }));
    writeFileSync(join(pkg, 'index.js'), "throw new Error('needs Node 99\\nstack line');\n");
    writeFileSync(file, 'providers:\n  - id: b\n    package: broken-provider\n');
    const result = await loadProvidersFromFile(file, ctx);
    expect(result.ok ? [] : result.errors).toEqual([
      `${file}:3: provider b: package "broken-provider" failed to load (${join(pkg, 'index.js')}): needs Node 99`,
    ]);
  });

  it('an unreadable file is one line', async () => {
    const result = await loadProvidersFromFile('/nonexistent/providers.yaml', ctx);
    expect(result.ok ? [] : result.errors).toEqual([
      expect.stringMatching(/^PROVIDERS_FILE \/nonexistent\/providers\.yaml cannot be read: ENOENT/),
    ]);
  });
});

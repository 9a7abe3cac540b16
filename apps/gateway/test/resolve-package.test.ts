import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveProviderPackage } from '../src/providers/resolve-package.js';

function folder(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'resolve-package-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('resolving a provider package as Node’s ESM loader does', () => {
  const root = folder({
    'node_modules/@acme/esm-only/package.json': JSON.stringify({
      exports: { '.': { types: './d.ts', require: './cjs.js', import: './esm.js' }, './fake': './fake.js' },
    }),
    'node_modules/plain/package.json': JSON.stringify({ main: 'lib/main.js' }),
    'node_modules/bare/package.json': '{}',
    'node_modules/sugar/package.json': JSON.stringify({ exports: { import: './i.js', default: './d.js' } }),
    'config/deep/providers.yaml': '',
    'local/package.json': JSON.stringify({ exports: './src/index.js' }),
  });
  const from = [join(root, 'config', 'deep')];

  it('finds node_modules above the file’s folder, and takes the "import" condition an ESM-only package has', () => {
    expect(resolveProviderPackage('@acme/esm-only', from)).toEqual({
      ok: true,
      file: join(root, 'node_modules/@acme/esm-only/esm.js'),
    });
    expect(resolveProviderPackage('@acme/esm-only/fake', from)).toEqual({
      ok: true,
      file: join(root, 'node_modules/@acme/esm-only/fake.js'),
    });
    expect(resolveProviderPackage('sugar', from)).toEqual({
      ok: true,
      file: join(root, 'node_modules/sugar/i.js'),
    });
  });

  it('falls back to main, then index.js, without exports', () => {
    expect(resolveProviderPackage('plain', from)).toEqual({
      ok: true,
      file: join(root, 'node_modules/plain/lib/main.js'),
    });
    expect(resolveProviderPackage('bare', from)).toEqual({
      ok: true,
      file: join(root, 'node_modules/bare/index.js'),
    });
  });

  it('takes a path from the file’s folder: a package folder or a file', () => {
    expect(resolveProviderPackage('../../local', from)).toEqual({
      ok: true,
      file: join(root, 'local/src/index.js'),
    });
    expect(resolveProviderPackage('./providers.yaml', from)).toEqual({
      ok: true,
      file: join(root, 'config/deep/providers.yaml'),
    });
  });

  it('looks in the next folder (the gateway’s) when the first has nothing', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'resolve-empty-'));
    expect(resolveProviderPackage('plain', [elsewhere, root])).toMatchObject({ ok: true });
  });

  it('says what to do when it is not there, or not exported', () => {
    const missing = resolveProviderPackage('@acme/missing', from);
    expect(missing).toMatchObject({ ok: false, code: 'not_installed' });
    expect(missing.ok ? '' : missing.message).toContain(`run \`npm install @acme/missing\` in ${from[0]}`);
    expect(resolveProviderPackage('@acme/esm-only/internal', from)).toMatchObject({
      ok: false,
      code: 'load_failed',
      message: expect.stringMatching(/does not export \.\/internal/),
    });
    expect(resolveProviderPackage('./nowhere', from)).toMatchObject({ ok: false, code: 'not_installed' });
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The published contract: what `npm publish` ships and what `exports` promises must be there (after build). */
const root = new URL('../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  private?: boolean;
  version: string;
  files: string[];
  exports: Record<string, string | { types: string; default: string }>;
};

describe('the package as published', () => {
  it('is publishable: a version, no private flag, only dist and the README shipped', () => {
    expect(manifest.private).toBeUndefined();
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(manifest.files).toEqual(['dist', 'README.md']);
    expect(existsSync(new URL('README.md', root))).toBe(true);
  });

  it('every export has its types and its code in dist', () => {
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (typeof target === 'string') {
        expect(existsSync(new URL(target, root)), subpath).toBe(true);
        continue;
      }
      expect(target.types, subpath).toMatch(/^\.\/dist\/.*\.d\.ts$/);
      for (const file of [target.types, target.default])
        expect(existsSync(new URL(file, root)), file).toBe(true);
    }
  });
});

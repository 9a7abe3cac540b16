import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/**
 * Where a provider package named in a providers file lives, found as Node's ESM loader finds a bare
 * specifier: node_modules folders from the given folders upwards, then the package's `exports` ("node",
 * "import" and "default" conditions) or `main`.
 *
 * Why not createRequire(file).resolve: it applies the "require" condition, so an ESM-only package (exports
 * with "import" only) is not found. Why not import.meta.resolve(specifier, parent): the parent argument is
 * behind --experimental-import-meta-resolve on Node 20.
 */
export type Resolution =
  | { readonly ok: true; readonly file: string }
  | { readonly ok: false; readonly code: 'not_installed' | 'load_failed'; readonly message: string };

const CONDITIONS = new Set(['node', 'import', 'default']);

export function resolveProviderPackage(specifier: string, searchFrom: readonly string[]): Resolution {
  const base = searchFrom[0] ?? process.cwd();
  if (isPathLike(specifier)) {
    const target = specifier.startsWith('file:') ? new URL(specifier).pathname : resolve(base, specifier);
    if (!existsSync(target))
      return {
        ok: false,
        code: 'not_installed',
        message: `is not there: ${target} does not exist (a path is taken from the providers file's folder)`,
      };
    return statSync(target).isDirectory() ? entryOf(target, '.') : { ok: true, file: target };
  }
  const { name, subpath } = splitSpecifier(specifier);
  for (const from of searchFrom) {
    for (let dir = resolve(from); ; dir = dirname(dir)) {
      const packageDir = join(dir, 'node_modules', name);
      if (existsSync(join(packageDir, 'package.json'))) return entryOf(packageDir, subpath);
      if (dirname(dir) === dir) break;
    }
  }
  return {
    ok: false,
    code: 'not_installed',
    message: `is not installed: no node_modules/${name} from ${base} upwards, nor from the gateway's folder; run \`npm install ${name}\` in ${base}`,
  };
}

const isPathLike = (specifier: string) =>
  specifier.startsWith('./') ||
  specifier.startsWith('../') ||
  specifier === '.' ||
  specifier === '..' ||
  specifier.startsWith('file:') ||
  isAbsolute(specifier);

function splitSpecifier(specifier: string): { name: string; subpath: string } {
  const parts = specifier.split('/');
  const nameLength = specifier.startsWith('@') ? 2 : 1;
  const rest = parts.slice(nameLength);
  return { name: parts.slice(0, nameLength).join('/'), subpath: rest.length ? `./${rest.join('/')}` : '.' };
}

/** The file a package's `exports` (or `main`) maps a subpath to. */
function entryOf(packageDir: string, subpath: string): Resolution {
  let manifest: { exports?: unknown; main?: unknown };
  try {
    manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  } catch (err) {
    return {
      ok: false,
      code: 'load_failed',
      message: `has a package.json that cannot be read (${packageDir}): ${(err as Error).message}`,
    };
  }
  if (manifest.exports === undefined) {
    const main = subpath === '.' ? (typeof manifest.main === 'string' ? manifest.main : 'index.js') : subpath;
    return { ok: true, file: join(packageDir, main) };
  }
  const exportsMap = manifest.exports;
  const isSubpathMap =
    typeof exportsMap === 'object' &&
    exportsMap !== null &&
    !Array.isArray(exportsMap) &&
    Object.keys(exportsMap).some((k) => k.startsWith('.'));
  const target = isSubpathMap
    ? pick((exportsMap as Record<string, unknown>)[subpath])
    : subpath === '.'
      ? pick(exportsMap)
      : undefined;
  if (target === undefined)
    return {
      ok: false,
      code: 'load_failed',
      message: `does not export ${subpath === '.' ? 'its main entry' : subpath} for import (its package.json "exports" has no "import" or "default" for it)`,
    };
  return { ok: true, file: join(packageDir, target) };
}

/** A conditional export's target for Node's ESM loader: the first key, in the object's order, it accepts. */
function pick(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const picked = pick(t);
      if (picked !== undefined) return picked;
    }
    return undefined;
  }
  if (typeof target !== 'object' || target === null) return undefined;
  for (const [condition, value] of Object.entries(target)) {
    if (!CONDITIONS.has(condition)) continue;
    const picked = pick(value);
    if (picked !== undefined) return picked;
  }
  return undefined;
}

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  builtInProviders,
  loadProviderPackages,
  loadProvidersFileWithPackages,
  type PackageLoader,
  type ProviderContext,
  type ProviderFactory,
  parseProvidersFile,
  type RegistryResult,
} from '@feishu-exam/exam-providers';
import { resolveProviderPackage } from './resolve-package.js';

/** The gateway's own folder: a provider package may be installed next to the gateway rather than the file. */
const gatewayDir = dirname(fileURLToPath(import.meta.url));

/**
 * Provider types that moved to their own package: a file saying `type: hackerrank` loads the package, so
 * files written when it was built in keep working.
 */
export const PROVIDER_TYPE_ALIASES: Readonly<Record<string, string>> = {
  hackerrank: '@feishu-exam/provider-hackerrank',
};

/** Imports provider packages as Node resolves them from the providers file's folder, then the gateway's. */
export function packageLoader(providersFile: string): PackageLoader {
  const searchFrom = [dirname(providersFile), gatewayDir];
  return async (specifier) => {
    const resolved = resolveProviderPackage(specifier, searchFrom);
    if (!resolved.ok) return resolved;
    try {
      return { ok: true, module: await import(pathToFileURL(resolved.file).href) };
    } catch (err) {
      const message = String((err as Error)?.message ?? err).split('\n')[0];
      return { ok: false, code: 'load_failed', message: `failed to load (${resolved.file}): ${message}` };
    }
  };
}

/**
 * The providers file, built: what the gateway does at start and `feishu-exam providers check` does alone.
 * Every problem is one line, "file:line: …"; a file that cannot be read is one too.
 */
export async function loadProvidersFromFile(file: string, ctx: ProviderContext): Promise<RegistryResult> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [`PROVIDERS_FILE ${file} cannot be read: ${(err as Error).message}`] };
  }
  return loadProvidersFileWithPackages(
    text,
    file,
    { factories: builtInProviders, loadPackage: packageLoader(file), typeAliases: PROVIDER_TYPE_ALIASES },
    ctx,
  );
}

/** One entry of a providers file, with the factory it names: what `feishu-exam providers test` runs the kit on. */
export async function providerEntryFromFile(
  file: string,
  id: string,
): Promise<
  | { readonly ok: true; readonly factory: ProviderFactory; readonly options: unknown }
  | { readonly ok: false; readonly errors: string[] }
> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [`${file} cannot be read: ${(err as Error).message}`] };
  }
  const parsed = parseProvidersFile(text, file);
  if (!parsed.ok) return parsed;
  const entry = parsed.config.providers.find((p) => p.id === id);
  if (!entry)
    return {
      ok: false,
      errors: [
        `${file}: no provider "${id}"; the file has ${parsed.config.providers.map((p) => p.id).join(', ')}`,
      ],
    };
  const builtIn = builtInProviders.find((f) => f.id === entry.type);
  if (builtIn) return { ok: true, factory: builtIn, options: entry.options };
  const name = entry.package ?? PROVIDER_TYPE_ALIASES[entry.type ?? ''];
  if (name === undefined)
    return { ok: false, errors: [`${file}: provider ${id}: unknown type "${entry.type}"`] };
  const loaded = (await loadProviderPackages([name], packageLoader(file))).get(name);
  if (!loaded?.ok)
    return { ok: false, errors: [`${file}: provider ${id}: package "${name}" ${loaded?.problem}`] };
  return { ok: true, factory: loaded.factory, options: entry.options };
}

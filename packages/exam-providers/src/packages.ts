import type { ProviderFactory } from './define.js';

/**
 * Provider packages: an entry of the providers file may name `package: "<npm name or path>"` instead of
 * `type:`. This package does no I/O, so the import itself is the caller's (the gateway resolves the name as
 * Node does, from the providers file's folder and then from its own): it is injected as a PackageLoader.
 */
export type PackageImport =
  | { readonly ok: true; readonly module: unknown }
  | {
      readonly ok: false;
      /** not_installed: nothing by that name where it was looked for; load_failed: found, but importing it threw. */
      readonly code: 'not_installed' | 'load_failed';
      /** One line, saying where it was looked for or what the import threw, and what to do. */
      readonly message: string;
    };

export type PackageLoader = (specifier: string) => Promise<PackageImport>;

/** A package, loaded: the provider factory it exports, or the one-line reason it cannot be used. */
export type PackageFactory =
  | { readonly ok: true; readonly factory: ProviderFactory }
  | { readonly ok: false; readonly problem: string };

/**
 * Whether a value is a provider factory. Checked by shape, not by identity: a package may carry its own copy
 * of this package (an npm install resolves peers per folder), and its defineProvider is as good as ours.
 */
export function isProviderFactory(value: unknown): value is ProviderFactory {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<ProviderFactory>;
  return typeof candidate.id === 'string' && candidate.id.length > 0 && typeof candidate.build === 'function';
}

/** The factory a package module exports: its default export, else its named export `provider`. */
export function providerFactoryOf(module: unknown): ProviderFactory | undefined {
  if (typeof module !== 'object' || module === null) return undefined;
  const exports = module as { default?: unknown; provider?: unknown };
  if (isProviderFactory(exports.default)) return exports.default;
  if (isProviderFactory(exports.provider)) return exports.provider;
  // A CommonJS package seen from ESM: its module.exports is the default export.
  const commonJs = exports.default as { default?: unknown; provider?: unknown } | undefined;
  if (isProviderFactory(commonJs?.default)) return commonJs.default;
  if (isProviderFactory(commonJs?.provider)) return commonJs.provider;
  return undefined;
}

/** Imports each named package once and finds its factory; every failure is a line that says what to do. */
export async function loadProviderPackages(
  specifiers: Iterable<string>,
  load: PackageLoader,
): Promise<Map<string, PackageFactory>> {
  const loaded = new Map<string, PackageFactory>();
  for (const specifier of new Set(specifiers)) {
    let imported: PackageImport;
    try {
      imported = await load(specifier);
    } catch (err) {
      imported = { ok: false, code: 'load_failed', message: `failed to load: ${firstLine(err)}` };
    }
    if (!imported.ok) {
      loaded.set(specifier, { ok: false, problem: imported.message });
      continue;
    }
    const factory = providerFactoryOf(imported.module);
    loaded.set(
      specifier,
      factory
        ? { ok: true, factory }
        : {
            ok: false,
            problem:
              'exports no provider factory: its default export (or an export named `provider`) must be made with defineProvider from @feishu-exam/exam-providers',
          },
    );
  }
  return loaded;
}

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0] ?? '';

import { boundProvider } from './bounds.js';
import type { ExamProvider, ProviderContext } from './contract.js';
import { type BuildResult, describeOptionsIssue, type OptionsIssue, type ProviderFactory } from './define.js';
import type { PackageFactory } from './packages.js';

/** One configured provider: an instance of a provider type, with its options and the papers it serves. */
export interface ProviderConfig {
  /** This instance's name, unique; accounts and routes refer to it. */
  readonly id: string;
  /** The provider type (a built-in factory's id): "sandbox", "http", … Either this or `package`. */
  readonly type?: string | undefined;
  /** A provider package (an npm name or a path) whose export is the factory. Either this or `type`. */
  readonly package?: string | undefined;
  readonly options?: unknown;
  /** Paper ids this provider serves, for exams whose account names no provider. */
  readonly papers?: readonly string[];
}

export interface RegistryConfig {
  readonly providers: readonly ProviderConfig[];
  /** Where an exam goes when neither its account nor its paper names a provider. */
  readonly defaultProvider?: string | undefined;
}

export type Route =
  | { readonly ok: true; readonly provider: ExamProvider; readonly via: 'account' | 'paper' | 'default' }
  | { readonly ok: false; readonly reason: string };

export interface ProviderRegistry {
  readonly providers: ReadonlyMap<string, ExamProvider>;
  /** Where exams go that neither an account nor a paper routes. */
  readonly defaultProviderId: string | undefined;
  get(id: string): ExamProvider | undefined;
  /**
   * The provider for one exam: the bound account's provider first, then the one serving its paper, then the
   * default. No match is a reason fit for the card, never an exception.
   */
  route(exam: {
    readonly accountProviderId?: string | undefined;
    readonly paperId?: string | undefined;
  }): Route;
}

export type RegistryResult =
  | { readonly ok: true; readonly registry: ProviderRegistry }
  | { readonly ok: false; readonly errors: string[] };

/** Builds every configured provider at start. Every mistake is reported at once, each saying what to fix. */
export function createProviderRegistry(
  factories: readonly ProviderFactory[],
  config: RegistryConfig,
  ctx: ProviderContext,
  /** Where a path of the configuration is written ("providers.yaml:12"), for errors that say where to look. */
  locate?: (path: ReadonlyArray<PropertyKey>) => string,
  /** The factories of the packages entries name (see loadProviderPackages), by the name as written. */
  packages: ReadonlyMap<string, PackageFactory> = new Map(),
): RegistryResult {
  const byType = new Map(factories.map((f) => [f.id, f]));
  const providers = new Map<string, ExamProvider>();
  const paperOwner = new Map<string, string>();
  const errors: string[] = [];
  /** Providers whose entry is already reported: the default naming one of them is not a second mistake. */
  const broken = new Set<string>();
  const where = (path: ReadonlyArray<PropertyKey>) => (locate ? `${locate(path)}: ` : '');

  for (const [index, entry] of config.providers.entries()) {
    const at = ['providers', index];
    if (providers.has(entry.id)) {
      errors.push(
        `${where([...at, 'id'])}provider ${entry.id}: the id is used twice; give each provider its own id`,
      );
      continue;
    }
    broken.add(entry.id);
    let factory: ProviderFactory | undefined;
    if (entry.package !== undefined) {
      const loaded = packages.get(entry.package);
      if (!loaded?.ok) {
        errors.push(
          `${where([...at, 'package'])}provider ${entry.id}: package "${entry.package}" ${loaded?.problem ?? 'was not loaded (the providers file is read with loadProvidersFileWithPackages)'}`,
        );
        continue;
      }
      factory = loaded.factory;
    } else {
      factory = entry.type === undefined ? undefined : byType.get(entry.type);
      if (!factory) {
        errors.push(
          `${where([...at, 'type'])}provider ${entry.id}: unknown type "${entry.type}"; known types: ${[...byType.keys()].join(', ')}; a provider of another platform is named with package: "<its npm package>"`,
        );
        continue;
      }
    }
    // A package's problems name the package: that is where its options are documented.
    const label = entry.package === undefined ? factory.id : `package ${entry.package}`;
    const built = buildProvider(factory, entry, ctx);
    if (!built.ok) {
      errors.push(
        ...built.issues.map(
          (issue) =>
            `${where([...at, 'options', ...issue.path])}${describeOptionsIssue(entry.id, label, issue)}`,
        ),
      );
      continue;
    }
    // A factory need not come from defineProvider; whatever built it, its answers are bounded here.
    broken.delete(entry.id);
    providers.set(entry.id, boundProvider(built.provider));
    for (const paper of entry.papers ?? []) {
      const owner = paperOwner.get(paper);
      if (owner)
        errors.push(
          `${where([...at, 'papers'])}paper ${paper} is claimed by both ${owner} and ${entry.id}; one paper, one provider`,
        );
      else paperOwner.set(paper, entry.id);
    }
  }
  if (
    config.defaultProvider !== undefined &&
    !providers.has(config.defaultProvider) &&
    !broken.has(config.defaultProvider)
  ) {
    errors.push(
      `${where(['defaultProvider'])}the default provider "${config.defaultProvider}" is not configured; configured: ${[...providers.keys()].join(', ') || 'none'}`,
    );
  }
  if (errors.length > 0) return { ok: false, errors };

  const registry: ProviderRegistry = {
    providers,
    defaultProviderId: config.defaultProvider,
    get: (id) => providers.get(id),
    route({ accountProviderId, paperId }) {
      if (accountProviderId !== undefined) {
        const provider = providers.get(accountProviderId);
        if (provider) return { ok: true, provider, via: 'account' };
        return {
          ok: false,
          reason: `the account is bound to provider "${accountProviderId}", which is not configured`,
        };
      }
      const owner = paperId === undefined ? undefined : paperOwner.get(paperId);
      if (owner) return { ok: true, provider: providers.get(owner) as ExamProvider, via: 'paper' };
      if (config.defaultProvider !== undefined)
        return { ok: true, provider: providers.get(config.defaultProvider) as ExamProvider, via: 'default' };
      return {
        ok: false,
        reason: `no provider serves paper ${paperId ?? '(none)'} and no default provider is configured`,
      };
    },
  };
  return { ok: true, registry };
}

function buildProvider(
  factory: ProviderFactory,
  entry: ProviderConfig,
  ctx: ProviderContext,
): { ok: true; provider: ExamProvider } | { ok: false; issues: readonly OptionsIssue[] } {
  let result: BuildResult;
  try {
    result = factory.build(entry.options, ctx, entry.id);
  } catch (err) {
    // A factory not made with defineProvider may throw; that is a problem with its options all the same.
    return { ok: false, issues: [{ path: [], message: firstLine(err) }] };
  }
  if (result.ok) return result;
  const issues = Array.isArray(result.issues) && result.issues.length > 0 ? result.issues : undefined;
  return { ok: false, issues: issues ?? result.errors.map((message) => ({ path: [], message })) };
}

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0] ?? '';

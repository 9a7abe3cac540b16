import { boundProvider } from './bounds.js';
import type { ExamProvider, ProviderContext } from './contract.js';
import type { ProviderFactory } from './define.js';

/** One configured provider: an instance of a provider type, with its options and the papers it serves. */
export interface ProviderConfig {
  /** This instance's name, unique; accounts and routes refer to it. */
  readonly id: string;
  /** The provider type (a factory's id): "sandbox", "http", … */
  readonly type: string;
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
): RegistryResult {
  const byType = new Map(factories.map((f) => [f.id, f]));
  const providers = new Map<string, ExamProvider>();
  const paperOwner = new Map<string, string>();
  const errors: string[] = [];
  const where = (path: ReadonlyArray<PropertyKey>) => (locate ? `${locate(path)}: ` : '');

  for (const [index, entry] of config.providers.entries()) {
    const at = ['providers', index];
    if (providers.has(entry.id)) {
      errors.push(
        `${where([...at, 'id'])}provider ${entry.id}: the id is used twice; give each provider its own id`,
      );
      continue;
    }
    const factory = byType.get(entry.type);
    if (!factory) {
      errors.push(
        `${where([...at, 'type'])}provider ${entry.id}: unknown type "${entry.type}"; known types: ${[...byType.keys()].join(', ')}`,
      );
      continue;
    }
    const built = factory.build(entry.options, ctx, entry.id);
    if (!built.ok) {
      errors.push(
        ...built.errors.map((e, i) => `${where([...at, 'options', ...(built.issues[i]?.path ?? [])])}${e}`),
      );
      continue;
    }
    // A factory need not come from defineProvider; whatever built it, its answers are bounded here.
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
    !errors.some((e) => e.startsWith(`provider ${config.defaultProvider}`))
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

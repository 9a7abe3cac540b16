import type { z } from 'zod';
import type { ExamProvider, ProviderContext } from './contract.js';

export interface ProviderDefinition<S extends z.ZodType> {
  /** The provider's type name in configuration, e.g. "sandbox", "http", "hackerrank". */
  readonly id: string;
  /** The options' schema: validated once, at start. */
  readonly options: S;
  create(options: z.infer<S>, ctx: ProviderContext, instanceId: string): ExamProvider;
}

export type BuildResult =
  | { readonly ok: true; readonly provider: ExamProvider }
  | { readonly ok: false; readonly errors: string[] };

export interface ProviderFactory<S extends z.ZodType = z.ZodType> {
  readonly id: string;
  readonly options: S;
  /** Validates raw options (from a configuration file) and builds the provider; never throws. */
  build(rawOptions: unknown, ctx: ProviderContext, instanceId?: string): BuildResult;
}

/**
 * A provider is a factory returning a plain object (as Auth.js providers are): options are validated once,
 * with errors that name the provider and the option's path.
 */
export function defineProvider<S extends z.ZodType>(definition: ProviderDefinition<S>): ProviderFactory<S> {
  return {
    id: definition.id,
    options: definition.options,
    build(rawOptions, ctx, instanceId = definition.id) {
      const parsed = definition.options.safeParse(rawOptions ?? {});
      if (!parsed.success) {
        return {
          ok: false,
          errors: parsed.error.issues.map(
            (i) =>
              `provider ${instanceId} (${definition.id}): options${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`,
          ),
        };
      }
      try {
        return { ok: true, provider: definition.create(parsed.data, ctx, instanceId) };
      } catch (err) {
        return {
          ok: false,
          errors: [`provider ${instanceId} (${definition.id}): ${(err as Error).message}`],
        };
      }
    },
  };
}

/** The context a provider gets in production: the global fetch, the clock, and the process environment. */
export function defaultProviderContext(
  env: Readonly<Record<string, string | undefined>> = process.env,
): ProviderContext {
  return { fetch: globalThis.fetch, now: Date.now, secret: (name) => env[name] };
}

import type { z } from 'zod';
import { boundProvider } from './bounds.js';
import type { ExamProvider, ProviderContext } from './contract.js';

export interface ProviderDefinition<S extends z.ZodType> {
  /** The provider's type name in configuration, e.g. "sandbox", "http", "hackerrank". */
  readonly id: string;
  /** The options' schema: validated once, at start. */
  readonly options: S;
  create(options: z.infer<S>, ctx: ProviderContext, instanceId: string): ExamProvider;
}

/** A problem with a provider's options, at a path inside them. */
export interface OptionsIssue {
  readonly path: ReadonlyArray<PropertyKey>;
  readonly message: string;
}

export type BuildResult =
  | { readonly ok: true; readonly provider: ExamProvider }
  | { readonly ok: false; readonly errors: string[]; readonly issues: readonly OptionsIssue[] };

export interface ProviderFactory<S extends z.ZodType = z.ZodType> {
  readonly id: string;
  readonly options: S;
  /** Validates raw options (from a configuration file) and builds the provider; never throws. */
  build(rawOptions: unknown, ctx: ProviderContext, instanceId?: string): BuildResult;
}

/** Thrown by a provider's `create` for problems only it can see (templates, missing secrets). */
export class OptionsError extends Error {
  constructor(readonly issues: readonly OptionsIssue[]) {
    super(issues.map((i) => i.message).join('; '));
    this.name = 'OptionsError';
  }
}

export const describeOptionsIssue = (instanceId: string, type: string, issue: OptionsIssue) =>
  `provider ${instanceId} (${type}): options${issue.path.length ? `.${issue.path.map(String).join('.')}` : ''}: ${issue.message}`;

/** An unknown key is reported at the key itself (its line in a file), not at the object holding it. */
export function pointAtKey(issue: z.core.$ZodIssue): OptionsIssue {
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  return keys.length === 1
    ? { path: [...issue.path, keys[0] as string], message: issue.message }
    : { path: issue.path, message: issue.message };
}

/**
 * A provider is a factory returning a plain object (as Auth.js providers are): options are validated once,
 * with errors that name the provider and the option's path. What the provider answers is bounded (see
 * boundProvider): its author cannot forget to.
 */
export function defineProvider<S extends z.ZodType>(definition: ProviderDefinition<S>): ProviderFactory<S> {
  return {
    id: definition.id,
    options: definition.options,
    build(rawOptions, ctx, instanceId = definition.id) {
      const fail = (issues: OptionsIssue[]): BuildResult => ({
        ok: false,
        issues,
        errors: issues.map((i) => describeOptionsIssue(instanceId, definition.id, i)),
      });
      const parsed = definition.options.safeParse(rawOptions ?? {});
      if (!parsed.success) return fail(parsed.error.issues.map(pointAtKey));
      try {
        return { ok: true, provider: boundProvider(definition.create(parsed.data, ctx, instanceId)) };
      } catch (err) {
        if (err instanceof OptionsError) return fail([...err.issues]);
        return fail([{ path: [], message: (err as Error).message }]);
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

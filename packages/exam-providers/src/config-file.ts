import { isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import type { ProviderContext } from './contract.js';
import { type ProviderFactory, pointAtKey } from './define.js';
import { loadProviderPackages, type PackageLoader } from './packages.js';
import { createProviderRegistry, type RegistryConfig, type RegistryResult } from './registry.js';

/**
 * The providers file (YAML, or JSON, which is YAML too):
 *
 *   defaultProvider: acme
 *   providers:
 *     - id: acme
 *       type: http
 *       papers: [acme-101]
 *       options: { baseUrl: https://api.acme.example, createExam: { … } }
 *     - id: quizly
 *       package: "@acme/feishu-exam-provider-quizly"   # resolved from the file's folder, then the gateway's
 *       options: { … }
 *
 * Every problem is reported as "file:line: what is wrong, and what to fix".
 */
const fileSchema = z
  .object({
    defaultProvider: z.string().min(1).optional(),
    providers: z
      .array(
        z
          .object({
            id: z
              .string()
              .regex(
                /^[a-z0-9][a-z0-9_-]*$/,
                'must be lowercase letters, digits, - or _ (it appears in URLs)',
              ),
            type: z.string().min(1).optional(),
            package: z.string().min(1).optional(),
            papers: z.array(z.string().min(1)).optional(),
            options: z.unknown().optional(),
          })
          .strict()
          .superRefine((entry, issues) => {
            if ((entry.type === undefined) === (entry.package === undefined))
              issues.addIssue({
                code: 'custom',
                path: entry.type === undefined ? [] : ['package'],
                message:
                  'name either type: (a built-in: sandbox, http) or package: (an npm package or a path), not both or neither',
              });
          }),
      )
      .min(1, 'must list at least one provider'),
  })
  .strict();

export type ParsedProvidersFile =
  | {
      readonly ok: true;
      readonly config: RegistryConfig;
      /** Where a path of the file is written ("providers.yaml:12"). */
      readonly locate: (path: ReadonlyArray<PropertyKey>) => string;
    }
  | { readonly ok: false; readonly errors: string[] };

/** Reads the file's shape; every problem is "file:line: what is wrong". Builds nothing. */
export function parseProvidersFile(text: string, fileName: string): ParsedProvidersFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (offset: number | undefined) =>
    `${fileName}:${offset === undefined ? 1 : lines.linePos(offset).line}`;
  if (doc.errors.length > 0)
    return { ok: false, errors: doc.errors.map((e) => `${at(e.pos[0])}: ${e.message.split('\n')[0]}`) };

  /** The line of the deepest node that exists on the path. */
  const locate = (path: ReadonlyArray<PropertyKey>) => {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = doc.getIn(path.slice(0, depth) as unknown[], true);
      if (isNode(node) && node.range) return at(node.range[0]);
    }
    return at(undefined);
  };

  const parsed = fileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues
        .map(pointAtKey)
        .map((i) => `${locate(i.path)}: ${i.path.map(String).join('.') || 'the file'}: ${i.message}`),
    };
  }
  return { ok: true, config: parsed.data, locate };
}

/** The providers file, built with the given factories; entries naming a `package:` need loadProvidersFileWithPackages. */
export function loadProvidersFile(
  text: string,
  fileName: string,
  factories: readonly ProviderFactory[],
  ctx: ProviderContext,
): RegistryResult {
  const parsed = parseProvidersFile(text, fileName);
  if (!parsed.ok) return parsed;
  return createProviderRegistry(factories, parsed.config, ctx, parsed.locate);
}

export interface ProviderSources {
  /** The built-in provider types, named by `type:`. */
  readonly factories: readonly ProviderFactory[];
  /** Imports a package named by `package:` (the caller resolves it: this package does no I/O). */
  readonly loadPackage: PackageLoader;
  /**
   * Type names that are packages: `type: hackerrank` reads as `package: "@feishu-exam/provider-hackerrank"`,
   * so files written when a provider was built in keep working after it moved to its own package.
   */
  readonly typeAliases?: Readonly<Record<string, string>>;
}

/** The providers file, with its `package:` entries imported by the injected loader. */
export async function loadProvidersFileWithPackages(
  text: string,
  fileName: string,
  sources: ProviderSources,
  ctx: ProviderContext,
): Promise<RegistryResult> {
  const parsed = parseProvidersFile(text, fileName);
  if (!parsed.ok) return parsed;
  const aliases = sources.typeAliases ?? {};
  const builtIn = new Set(sources.factories.map((f) => f.id));
  const config: RegistryConfig = {
    ...parsed.config,
    providers: parsed.config.providers.map((entry) => {
      const alias = entry.type !== undefined && !builtIn.has(entry.type) ? aliases[entry.type] : undefined;
      return alias === undefined ? entry : { ...entry, type: undefined, package: alias };
    }),
  };
  const packages = await loadProviderPackages(
    config.providers.flatMap((entry) => (entry.package === undefined ? [] : [entry.package])),
    sources.loadPackage,
  );
  const locate = (path: ReadonlyArray<PropertyKey>) =>
    // An aliased type is reported at its type: line, where the file names it.
    parsed.locate(
      path[2] === 'package' && parsed.config.providers[Number(path[1])]?.type
        ? [...path.slice(0, 2), 'type']
        : path,
    );
  return createProviderRegistry(sources.factories, config, ctx, locate, packages);
}

import { isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import type { ProviderContext } from './contract.js';
import { type ProviderFactory, pointAtKey } from './define.js';
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
            type: z.string().min(1),
            papers: z.array(z.string().min(1)).optional(),
            options: z.unknown().optional(),
          })
          .strict(),
      )
      .min(1, 'must list at least one provider'),
  })
  .strict();

export function loadProvidersFile(
  text: string,
  fileName: string,
  factories: readonly ProviderFactory[],
  ctx: ProviderContext,
): RegistryResult {
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
  const config: RegistryConfig = parsed.data;
  return createProviderRegistry(factories, config, ctx, locate);
}

import { z } from 'zod';
import { ACCOUNT_ROOTS, EXAM_ROOTS, httpOptions, RESULT_ROOTS } from './provider.js';
import type { AllowedRoots } from './template.js';

/**
 * The low-code provider's reference, generated from its schema: every option, every response key, every
 * template variable. docs/adding-a-provider.md holds it verbatim and a test compares the two, so the doc
 * cannot drift from the code.
 */
export function httpProviderReference(): string {
  const schema = z.toJSONSchema(httpOptions, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return [
    '#### Template variables',
    '',
    'A string that is exactly one placeholder keeps the value’s type; otherwise the value is put in as text.',
    '',
    '| where | may read |',
    '|---|---|',
    `| \`headers\` (shared by every call) | ${variables(ACCOUNT_ROOTS)} |`,
    `| \`createExam\` (path, headers, body) | ${variables(EXAM_ROOTS)} |`,
    `| \`listPapers\` (path, headers, body) | ${variables(ACCOUNT_ROOTS)} |`,
    `| \`fetchResult\` (path, headers, body) | ${variables(RESULT_ROOTS)} |`,
    '',
    '#### Options and response keys',
    '',
    "JSON path: `$`, then `.key`, `[index]` or `['key']`. Template: a string that may hold `{{ variable }}`.",
    '',
    ...properties(schema, ''),
    '',
  ].join('\n');
}

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  'x-kind'?: string;
}

function variables(roots: AllowedRoots): string {
  return Object.entries(roots)
    .flatMap(([root, rest]) =>
      rest === undefined
        ? [`\`${root}.<ENV_NAME>\``]
        : rest.map((r) => `\`${root}.${r.endsWith('*') ? `${r.slice(0, -1)}<key>` : r}\``),
    )
    .join(', ');
}

function kind(s: JsonSchema): string {
  if (s['x-kind'] === 'json-path') return 'JSON path';
  if (s['x-kind'] === 'template') return s.type === 'object' ? 'object of templates' : 'template';
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.type === 'array') return `list of ${s.items?.type === 'object' ? 'objects' : kind(s.items ?? {})}`;
  if (s.anyOf) return s.anyOf.map(kind).join(' or ');
  if (s.type === 'string' && s.description?.includes('URL')) return 'URL';
  return Array.isArray(s.type) ? s.type.join(' or ') : (s.type ?? 'any JSON');
}

function properties(s: JsonSchema, prefix: string): string[] {
  const required = new Set(s.required ?? []);
  return Object.entries(s.properties ?? {}).flatMap(([key, child]) => {
    const path = `${prefix}${key}`;
    const facts = [kind(child), required.has(key) ? 'required' : undefined];
    if (
      child.default !== undefined &&
      !(
        typeof child.default === 'object' &&
        child.default !== null &&
        Object.keys(child.default).length === 0
      )
    )
      facts.push(`default ${JSON.stringify(child.default)}`);
    const line = `- \`${path}\` (${facts.filter(Boolean).join(', ')})${child.description ? `: ${child.description}` : ''}`;
    const nested =
      child.type === 'object' && child['x-kind'] !== 'template'
        ? properties(child, `${path}.`)
        : child.type === 'array' && child.items?.type === 'object'
          ? properties(child.items, `${path}[].`)
          : [];
    return [line, ...nested];
  });
}

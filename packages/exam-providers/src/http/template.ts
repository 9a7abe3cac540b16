/**
 * Templates for low-code providers: any string in a request declaration may hold `{{ variable.path }}`.
 * A string that is exactly one placeholder takes the variable's value as it is (a number stays a number);
 * otherwise placeholders are replaced by text. Compiled at start: an unknown variable is an error then.
 */

export type TemplateVars = Readonly<Record<string, unknown>>;

const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w]*(?:\.[A-Za-z_][\w-]*)*)\s*\}\}/g;
const WHOLE = /^\{\{\s*([A-Za-z_][\w]*(?:\.[A-Za-z_][\w-]*)*)\s*\}\}$/;

export interface CompiledTemplate {
  /** Every variable path the template reads, e.g. "candidate.name", "secrets.ACME_TOKEN". */
  readonly variables: readonly string[];
  render(vars: TemplateVars): unknown;
}

/** Roots a template may read, and for each a check of the rest of the path (undefined: any). */
export type AllowedRoots = Readonly<Record<string, readonly string[] | undefined>>;

export function compileTemplate(
  value: unknown,
  path: string,
  roots: AllowedRoots,
): { ok: true; template: CompiledTemplate } | { ok: false; errors: string[] } {
  const variables: string[] = [];
  const errors: string[] = [];
  const visit = (v: unknown, at: string) => {
    if (typeof v === 'string') {
      if (/\{\{/.test(v) && v.replace(PLACEHOLDER, '').includes('{{'))
        errors.push(`${at}: an unclosed or malformed {{ placeholder }}`);
      for (const m of v.matchAll(PLACEHOLDER)) {
        const name = m[1] as string;
        const [root, ...rest] = name.split('.');
        const allowed = roots[root as string];
        if (!((root as string) in roots)) {
          errors.push(
            `${at}: unknown variable {{${name}}}; use one of ${Object.keys(roots)
              .map((r) => `${r}.…`)
              .join(', ')}`,
          );
        } else if (
          allowed &&
          !allowed.includes(rest.join('.')) &&
          !allowed.some((a) => a.endsWith('*') && rest.join('.').startsWith(a.slice(0, -1)))
        ) {
          errors.push(`${at}: unknown variable {{${name}}}; ${root} has ${allowed.join(', ')}`);
        }
        variables.push(name);
      }
    } else if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) visit(item, `${at}[${i}]`);
    } else if (v && typeof v === 'object')
      for (const [k, item] of Object.entries(v)) visit(item, `${at}.${k}`);
  };
  visit(value, path);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, template: { variables, render: (vars) => render(value, vars) } };
}

function lookup(vars: TemplateVars, name: string): unknown {
  let current: unknown = vars;
  for (const key of name.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/**
 * The string with each placeholder replaced by `encode` of its value as text: for strings whose syntax a
 * value must not change (a URL). `offset` is where the placeholder starts in the source.
 */
export function fillPlaceholders(
  source: string,
  vars: TemplateVars,
  encode: (text: string, variable: string, offset: number) => string,
): string {
  return source.replace(PLACEHOLDER, (_, name: string, offset: number) => {
    const v = lookup(vars, name);
    return encode(v === undefined || v === null ? '' : String(v), name, offset);
  });
}

function render(value: unknown, vars: TemplateVars): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) return lookup(vars, whole[1] as string);
    return value.replace(PLACEHOLDER, (_, name: string) => {
      const v = lookup(vars, name);
      return v === undefined || v === null ? '' : String(v);
    });
  }
  if (Array.isArray(value)) return value.map((item) => render(item, vars));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const rendered = render(v, vars);
      if (rendered !== undefined) out[k] = rendered;
    }
    return out;
  }
  return value;
}

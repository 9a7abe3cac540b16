/**
 * The JSON paths a low-code provider maps answers with: `$`, then `.key` or `[index]` steps, e.g.
 * `$.data.exam.url` or `$.items[0].id`. Deliberately small: enough to map an answer, nothing to evaluate.
 */
const STEP = /^(?:\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['([^']+)'\])/;

export type JsonPath = { readonly source: string; get(value: unknown): unknown };

export function compileJsonPath(source: string): JsonPath | string {
  if (!source.startsWith('$')) return `"${source}" is not a JSON path; start it with $, e.g. $.data.url`;
  const steps: Array<string | number> = [];
  let rest = source.slice(1);
  while (rest.length > 0) {
    const m = STEP.exec(rest);
    if (!m) return `"${source}" is not a JSON path: cannot read "${rest}"; use .key, [index] or ['key']`;
    steps.push(m[1] ?? m[3] ?? Number(m[2]));
    rest = rest.slice(m[0].length);
  }
  return {
    source,
    get(value) {
      let current = value;
      for (const step of steps) {
        if (current === null || typeof current !== 'object') return undefined;
        current = (current as Record<string | number, unknown>)[step];
      }
      return current;
    },
  };
}

import type { z } from 'zod';

/**
 * A zod schema's verdict, fast. A schema built only of the few kinds the event schemas use (loose objects,
 * strings with length and pattern checks, safe integers, booleans, arrays, records, unions, literals, optionals,
 * unknown) is compiled once into a plain predicate over the parsed JSON. When the predicate accepts, the
 * value itself is the result: none of these kinds transforms or copies anything but the object itself, so
 * zod's output would be a copy with the same content. When it refuses, zod runs and its result, with its
 * issue path and message, is the answer: the schema stays the single source of truth, and the predicate
 * only skips zod's bookkeeping on the hot path (a push that is valid). A schema with any other kind or
 * check is not compiled and always goes through zod.
 *
 * Inputs are JSON.parse results: no undefined values, no symbols, no accessors, no NaN. An object with
 * an own `__proto__` key (JSON.parse makes one) is left to zod, which drops that key from its output.
 */
type Predicate = (value: unknown) => boolean;
type Def = { type: string; checks?: ReadonlyArray<{ _zod: { def: CheckDef } }> } & Record<string, unknown>;
type CheckDef = { check: string } & Record<string, unknown>;

const compiledSchemas = new WeakMap<z.ZodType, Predicate | null>();

export function precompiled<S extends z.ZodType>(
  schema: S,
): (value: unknown) => z.ZodSafeParseResult<z.output<S>> {
  let predicate = compiledSchemas.get(schema);
  if (predicate === undefined) {
    predicate = compile(schema) ?? null;
    compiledSchemas.set(schema, predicate);
  }
  const accepts = predicate;
  if (!accepts) return (value) => schema.safeParse(value);
  return (value) =>
    accepts(value) ? { success: true, data: value as z.output<S> } : schema.safeParse(value);
}

/** The schema's predicate, or undefined when the schema has a kind or check the compiler does not know. */
export function predicateOf(schema: z.ZodType): Predicate | undefined {
  return compile(schema);
}

function compile(schema: z.ZodType): Predicate | undefined {
  const def = schema._zod.def as unknown as Def;
  switch (def.type) {
    case 'object':
      return compileObject(def);
    case 'string':
      return compileString(def);
    case 'number':
      return compileNumber(def);
    case 'optional': {
      if (hasChecks(def)) return undefined;
      const inner = compile(def.innerType as z.ZodType);
      return inner && ((v) => v === undefined || inner(v));
    }
    case 'union': {
      if (hasChecks(def)) return undefined;
      const options = (def.options as z.ZodType[]).map(compile);
      if (options.some((o) => o === undefined)) return undefined;
      const all = options as Predicate[];
      return (v) => {
        for (const accepts of all) if (accepts(v)) return true;
        return false;
      };
    }
    case 'array': {
      if (hasChecks(def)) return undefined;
      const element = compile(def.element as z.ZodType);
      return element && ((v) => Array.isArray(v) && everyItem(v, element));
    }
    case 'record': {
      if (hasChecks(def)) return undefined;
      const key = (def.keyType as z.ZodType)._zod.def as unknown as Def;
      if (key.type !== 'string' || hasChecks(key)) return undefined;
      const value = compile(def.valueType as z.ZodType);
      return (
        value &&
        ((v) =>
          isPlainObject(v) && !Object.hasOwn(v, '__proto__') && Object.values(v).every((item) => value(item)))
      );
    }
    case 'boolean':
      return hasChecks(def) ? undefined : (v) => typeof v === 'boolean';
    case 'literal': {
      if (hasChecks(def)) return undefined;
      const values = def.values as readonly unknown[];
      return (v) => values.includes(v);
    }
    case 'unknown':
      return hasChecks(def) ? undefined : () => true;
    default:
      return undefined;
  }
}

function compileObject(def: Def): Predicate | undefined {
  // Only loose objects: a strict or stripping object's output is not its input.
  const catchall = def.catchall as z.ZodType | undefined;
  if (hasChecks(def) || catchall?._zod.def.type !== 'unknown') return undefined;
  const fields: Array<[string, Predicate]> = [];
  for (const [key, field] of Object.entries(def.shape as Record<string, z.ZodType>)) {
    const accepts = compile(field);
    if (!accepts) return undefined;
    fields.push([key, accepts]);
  }
  // Generated source, one function per object schema, so that each field is read by its own named
  // property load: V8 keeps those monomorphic (JSON.parse gives every push of a type the same shape).
  // One generic loop reading record[key] for every schema and key is a megamorphic load, served from
  // V8's process-wide stub cache, which the SDK and everything else in the process share: measured
  // beside the SDK, it made parse about 40% slower in one heap layout out of two. The source holds only
  // the schema's own keys, as JSON string literals; the input never reaches it.
  const reads = fields.map(([key], i) => `if (!checks[${i}](v[${JSON.stringify(key)}])) return false;`);
  const source = `return function accepts(v) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.hasOwn(v, '__proto__')) return false;
    ${reads.join('\n    ')}
    return true;
  };`;
  return new Function('checks', source)(fields.map(([, accepts]) => accepts)) as Predicate;
}

function compileString(def: Def): Predicate | undefined {
  const tests: Array<(s: string) => boolean> = [];
  for (const check of def.checks ?? []) {
    const c = check._zod.def;
    if (c.check === 'min_length') tests.push((s) => s.length >= (c.minimum as number));
    else if (c.check === 'max_length') tests.push((s) => s.length <= (c.maximum as number));
    else if (c.check === 'string_format' && c.format === 'regex') {
      const pattern = c.pattern as RegExp;
      if (pattern.global || pattern.sticky) return undefined;
      tests.push((s) => pattern.test(s));
    } else return undefined;
  }
  return (v) => {
    if (typeof v !== 'string') return false;
    for (const accepts of tests) if (!accepts(v)) return false;
    return true;
  };
}

function compileNumber(def: Def): Predicate | undefined {
  let integer = false;
  for (const check of def.checks ?? []) {
    const c = check._zod.def;
    if (c.check === 'number_format' && c.format === 'safeint') integer = true;
    else return undefined;
  }
  return (v) => typeof v === 'number' && (integer ? Number.isSafeInteger(v) : Number.isFinite(v));
}

function everyItem(items: readonly unknown[], accepts: Predicate): boolean {
  for (const item of items) if (!accepts(item)) return false;
  return true;
}

function hasChecks(def: Def): boolean {
  return (def.checks?.length ?? 0) > 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

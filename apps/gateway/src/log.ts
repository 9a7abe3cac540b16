// log: structured JSON logs (pino). Secrets never reach a line; candidate phone and email only masked.
import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * A safety net under the rule "never log a secret": whatever a log line carries under one of these keys
 * (at any depth, any letter case) is replaced. The primary defence is not passing secrets to the logger.
 */
const SECRET_KEYS = new Set([
  'appsecret',
  'app_secret',
  'encryptkey',
  'encrypt_key',
  'verificationtoken',
  'verification_token',
  'token',
  'access_token',
  'tenant_access_token',
  'app_access_token',
  'user_access_token',
  'refresh_token',
  'authorization',
  'cookie',
  'x-lark-signature',
  'password',
  'secret',
  'apikey',
  'api_key',
  'mobile',
  'email',
]);
export const REDACTED = '[redacted]';
const MAX_DEPTH = 8;

/**
 * The value with every secret-named field replaced, or the value itself when it has none (the usual case
 * costs a walk over its keys and no allocation). pino's own `redact` does this by paths at about five
 * times the cost per line, and only to the depth its paths name.
 */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const clean = redactSecrets(value[i], depth + 1);
      if (clean === value[i]) continue;
      copy ??= [...value];
      copy[i] = clean;
    }
    return (copy ?? value) as T;
  }
  // Plain objects only: not a Buffer's bytes, a Date, a Map. Errors are logged under `err`, whose
  // serializer (below) makes a plain object of them, and that is walked.
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  let copy: Record<string, unknown> | undefined;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    const field = record[key];
    const clean = SECRET_KEYS.has(key.toLowerCase()) ? REDACTED : redactSecrets(field, depth + 1);
    if (clean === field) continue;
    copy ??= { ...record };
    copy[key] = clean;
  }
  return (copy ?? value) as T;
}

export function createLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  const logger = pino(
    {
      level: options.level,
      base: { service: 'feishu-exam-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // The standard serializer's result has a prototype of its own: spread it into a plain object first.
      serializers: { err: (err: Error) => redactSecrets({ ...pino.stdSerializers.err(err) }) },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redactSecrets(object),
      },
    },
    options.destination,
  );
  // A child's bindings go through the net too (pino gives children no bindings formatter). Children are
  // made from their parent's prototype chain, so theirs are covered by this one override.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  } as typeof logger.child;
  return logger;
}

/**
 * "18900001111" → "189****1111": the middle never shows. Read over the digits alone ("189 0000 1111" too), and
 * a number shorter than a Chinese mobile's 11 digits keeps only its last two: 3 + 4 of an 8-digit number
 * would hide one digit.
 */
export function maskPhone(number: string | undefined, code?: string): string | undefined {
  if (!number) return undefined;
  const digits = number.replace(/\D/g, '');
  const masked =
    digits.length >= 11 ? `${digits.slice(0, 3)}****${digits.slice(-4)}` : `****${digits.slice(-2)}`;
  return code ? `+${code.replace(/^\+/, '')} ${masked}` : masked;
}

/** "wang.er@example.com" → "w***@example.com". */
export function maskEmail(email: string | undefined): string | undefined {
  if (!email) return undefined;
  const at = email.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${email[0]}***${email.slice(at)}`;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const ignore = () => undefined;

/**
 * A child logger made only when a line is written at an enabled level: most jobs write none at info, and
 * a child costs its bindings' serialisation (and redaction) up front, for every job.
 */
export function lazyChild(parent: Logger, bindings: () => Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(parent, {
    get(target, key) {
      if (typeof key === 'string' && LEVELS.has(key) && !target.isLevelEnabled(key)) return ignore;
      child ??= target.child(bindings());
      const value: unknown = Reflect.get(child, key, child);
      return typeof value === 'function' ? value.bind(child) : value;
    },
  });
}

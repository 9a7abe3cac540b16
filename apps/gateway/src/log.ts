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
  'app_ticket',
  'ticket',
  'access_key',
]);
export const REDACTED = '[redacted]';
const MAX_DEPTH = 8;

/**
 * Secrets and personal data written inside text: an error's message, a far side's answer echoing the request
 * it refused (Feishu's `msg`, an exam platform's error), a URL. Keys do not help there, so the text itself is
 * searched for the shapes a secret takes: a secret-named field written as JSON (escaped once or not) or as a
 * query or form value, a bearer credential, a Feishu access token, the values the process was configured with
 * (`createLogger`'s `secrets`); and a candidate's email address and mainland mobile number, masked as the
 * handlers mask them.
 */
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const KEY_ALTERNATION = [...SECRET_KEYS].map(escapeRegExp).join('|');
const TEXT_PATTERNS = [
  // "app_secret":"…" and \"password\":\"…\" (JSON inside a JSON string).
  `(?<json>\\\\*"(?:${KEY_ALTERNATION})\\\\*"\\s*:\\s*\\\\*")(?:[^"\\\\]|\\\\(?!"))*`,
  // ?ticket=… &access_key=… app_secret=…
  // (a value already masked, `***` or [redacted], is left as it is)
  `(?<form>\\b(?:${KEY_ALTERNATION})=)[^\\s&"',;)}*[][^\\s&"',;)}]*`,
  `(?<scheme>\\b(?:Bearer|Basic)\\s+)[A-Za-z0-9._~+/=-]+`,
  // tenant (t-), app (a-) and user (u-) access tokens.
  `(?<![\\w-])[tau]-[A-Za-z0-9_.]{20,}`,
  `(?<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,})`,
  `(?<![\\d*])(?<mobile>1[3-9]\\d{9})(?!\\d)`,
];

/**
 * What a string must hold for one of TEXT_PATTERNS to match in it, pattern by pattern: a quote before a colon
 * (json), a word character before `=` (form), a scheme, a token's prefix, an address's character on each side
 * of `@` (email), eleven digits (mobile). Narrower than any `@`, `=` or `"`: a line's masked email
 * (`w***@example.com`) no longer sends it through the whole pattern (BENCHMARKS.md, session 15).
 */
const MAYBE_SECRET =
  /"\s*:|\w=|\b(?:bearer|basic)\s|(?<![\w-])[tau]-[\w.]|[\w.%+-]@[\w.-]|(?<!\d)1[3-9]\d{9}(?!\d)/i;

/** A function that returns its text with every secret and personal value in it replaced, or the text itself. */
export type TextScrubber = (text: string) => string;

/** A scrubber that can be told more secret values once they are known (a provider's, read when first used). */
export interface GrowingScrubber extends TextScrubber {
  add(value: string): void;
}

export function textScrubber(secretValues: readonly string[] = []): GrowingScrubber {
  // Short values would match ordinary words; configuration requires secrets of at least 8 characters anyway.
  const worthSearching = (v: unknown): v is string => typeof v === 'string' && v.length >= 8;
  const given = [...new Set(secretValues.filter(worthSearching))];
  // The pattern matches the values in any letter case: so does the quick look before it.
  let lowerGiven = given.map((v) => v.toLowerCase());
  const compile = () => {
    const values = [...given].sort((a, b) => b.length - a.length).map(escapeRegExp);
    return new RegExp(
      [...(values.length > 0 ? [`(?:${values.join('|')})`] : []), ...TEXT_PATTERNS].join('|'),
      'gi',
    );
  };
  let pattern = compile();
  const replace = (match: string, ...args: unknown[]) => {
    const groups = args[args.length - 1] as Record<string, string | undefined>;
    if (groups.json !== undefined) return `${groups.json}${REDACTED}`;
    if (groups.form !== undefined) return `${groups.form}${REDACTED}`;
    if (groups.scheme !== undefined) return `${groups.scheme}${REDACTED}`;
    if (groups.email !== undefined) return maskEmail(groups.email) ?? REDACTED;
    if (groups.mobile !== undefined) return maskPhone(groups.mobile) ?? REDACTED;
    return match.length > 0 ? REDACTED : match;
  };
  const scrub = (text: string) => {
    // Most strings in a line are ids and words: one cheap look for what every pattern needs first.
    if (!MAYBE_SECRET.test(text) && !includesAny(text, lowerGiven)) return text;
    pattern.lastIndex = 0;
    if (!pattern.test(text)) return text;
    pattern.lastIndex = 0;
    return text.replace(pattern, replace);
  };
  return Object.assign(scrub, {
    add(value: string) {
      if (!worthSearching(value) || given.includes(value)) return;
      given.push(value);
      lowerGiven = given.map((v) => v.toLowerCase());
      pattern = compile();
    },
  });
}

/** Whether `text` holds any of `lowerValues` (lower case), in any letter case. */
function includesAny(text: string, lowerValues: readonly string[]): boolean {
  if (lowerValues.length === 0) return false;
  const lower = text.toLowerCase();
  return lowerValues.some((v) => lower.includes(v));
}

/** Each logger made by createLogger, and the scrubber of its lines. */
const scrubberOf = new WeakMap<Logger, GrowingScrubber>();

/**
 * From now on `value` is written out of every line of `log` (made by createLogger) and of its children,
 * wherever it appears: for a secret whose variable's name does not say it is one (secretValues finds those by
 * name), read by the code that uses it.
 */
export function keepOutOfLog(log: Logger, value: string | undefined): void {
  if (value === undefined) return;
  scrubberOf.get(log)?.add(value);
  scrubText.add(value);
}

/**
 * For text kept beyond a log line (a far side's answer kept on a job and shown on the admin page, a platform's
 * refusal sent to the customer's Hire): the shapes, and every secret a logger was made with or told of
 * (createLogger, keepOutOfLog) in this process. A far side's message may repeat what it was given: the app
 * secret, a platform's API key.
 */
export const scrubText = textScrubber();

/** Whether a key names a secret, kept per key (a line's keys are nearly always the same few). */
const secretKeyVerdicts = new Map<string, boolean>();
function isSecretKey(key: string): boolean {
  let secret = secretKeyVerdicts.get(key);
  if (secret === undefined) {
    secret = SECRET_KEYS.has(key.toLowerCase());
    // Keys come from code, but also from a far side's answer: a bounded memory of them.
    if (secretKeyVerdicts.size < 4096) secretKeyVerdicts.set(key, secret);
  }
  return secret;
}

/**
 * The value with every secret-named field replaced and every string scrubbed (`textScrubber`), or the value
 * itself when it has none (the usual case costs a walk over its keys and a scan of its strings, and no
 * allocation). pino's own `redact` does the key part by paths at about five times the cost per line, and only
 * to the depth its paths name.
 */
export function redactSecrets<T>(value: T, depth = 0, scrub: TextScrubber = scrubText): T {
  if (typeof value === 'string') return scrub(value) as T;
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const clean = redactSecrets(value[i], depth + 1, scrub);
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
    const clean = isSecretKey(key) ? REDACTED : redactSecrets(field, depth + 1, scrub);
    if (clean === field) continue;
    copy ??= { ...record };
    copy[key] = clean;
  }
  return (copy ?? value) as T;
}

/**
 * An error as a log line shows it: its type, message, stack and own plain facts (a code, a status, the API
 * or provider it names), and its cause the same way. Not its objects: an HTTP client's error carries the
 * request it sent (`config`: headers with the bearer token, the body with the app secret) and the answer;
 * a database error carries the statement's `parameters` (a row's phone and email). Those are left out,
 * whatever the error's class, rather than trusted to a list of keys.
 */
export function serializeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err) };
  const out: Record<string, unknown> = {
    type: err.constructor?.name ?? err.name,
    message: err.message,
    stack: err.stack,
  };
  for (const key of Object.keys(err)) {
    const value = (err as unknown as Record<string, unknown>)[key];
    if (key === 'cause' || key in out) continue;
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) out[key] = value;
  }
  // Getters on the prototype (OpenApiError's `retryable`) are facts too.
  for (const key of ['code', 'status', 'retryable'] as const) {
    if (key in out) continue;
    const value = (err as unknown as Record<string, unknown>)[key];
    if (value !== undefined && ['string', 'number', 'boolean'].includes(typeof value)) out[key] = value;
  }
  if (err.cause !== undefined && depth < 3) out.cause = serializeError(err.cause, depth + 1);
  if (err instanceof AggregateError && depth < 3)
    out.errors = err.errors.slice(0, 10).map((e) => serializeError(e, depth + 1));
  return out;
}

/**
 * Log lines are handed to the thread pool in chunks of at least this many bytes (lineDestination)… Each chunk
 * wakes a pool thread, and its end wakes the event loop: with 4 KiB chunks (about ten exam lines) those
 * wake-ups cost a push 27 µs more at 32 connections, when pushes come in two groups (BENCHMARKS.md, session 14).
 */
export const LOG_CHUNK_BYTES = 32 * 1024;
/** The most one write carries (sonic-boom's maxWrite, which must exceed the chunk). */
const LOG_MAX_WRITE_BYTES = 64 * 1024;
/** …or at most this long after they were written, whichever comes first. */
export const LOG_FLUSH_MS = 20;

/**
 * Where the gateway's log lines go: the file descriptor `fd` (stdout), written from libuv's thread pool, off
 * the request path (a synchronous write cost an accepted push ~22 µs, and blocked it while the reader of a
 * pipe was slow), in chunks of LOG_CHUNK_BYTES or LOG_FLUSH_MS after a line, whichever comes first. When lines
 * come one at a time (a push now and then), a write per line woke a pool thread per line: 113–125 µs of CPU
 * per line against 48–54 in chunks (bench/log-lines.mjs; BENCHMARKS.md, session 12). No timer runs while
 * nothing waits (an idle gateway does not wake up to write nothing). `flushSync()` writes what is buffered
 * before an exit; a SIGKILL loses what is still buffered (about LOG_FLUSH_MS of lines).
 *
 * Lines are written here into a chunk of bytes, handed to sonic-boom whole (its buffer mode). In its text
 * mode a line handed to it alone cost in proportion to the chunk (its write() measured the UTF-8 length of
 * everything it held, flattening it, at each line), and each chunk was encoded twice (for the write, then
 * again when the write ended): 10.8–12.1 µs of CPU a line with 32 KiB chunks, 5.5–6.3 here, when lines come 32
 * at a time (`LOG_LINES_BURST=1 node bench/log-lines.mjs`; BENCHMARKS.md, session 15).
 */
export function lineDestination(fd: number): ReturnType<typeof pino.destination> {
  const destination = pino.destination({
    dest: fd,
    sync: false,
    contentMode: 'buffer',
    minLength: LOG_CHUNK_BYTES,
    maxWrite: LOG_MAX_WRITE_BYTES,
  });
  /** The chunk being filled, and how many of its bytes hold lines. A new one once it is handed over. */
  let chunk = Buffer.allocUnsafe(LOG_MAX_WRITE_BYTES);
  let filled = 0;
  /** Bytes handed to sonic-boom and not written yet (buffered there, or being written by the pool). */
  let unwritten = 0;
  let timer: NodeJS.Timeout | undefined;
  // In buffer mode sonic-boom's write takes bytes; its types know only text.
  const write = destination.write.bind(destination) as unknown as (bytes: Buffer) => boolean;
  const handOver = (bytes: Buffer) => {
    unwritten += bytes.length;
    write(bytes);
  };
  const handOverChunk = () => {
    if (filled === 0) return;
    const full = chunk.subarray(0, filled);
    chunk = Buffer.allocUnsafe(LOG_MAX_WRITE_BYTES);
    filled = 0;
    handOver(full);
  };
  const flushSoon = () => {
    if (timer || (unwritten === 0 && filled === 0)) return;
    timer = setTimeout(() => {
      timer = undefined;
      // While a write is under way this does nothing; what is left when it ends is flushed by the next timer.
      try {
        destination.flush();
      } catch {
        // ended (the process is exiting, after its flushSync): nothing more goes out
      }
    }, LOG_FLUSH_MS);
    timer.unref();
  };
  destination.write = (line: string) => {
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    const most = line.length * 3;
    if (filled + most > chunk.length) {
      handOverChunk();
      // Longer than any chunk (a huge error stack): handed over as it is.
      if (most > chunk.length) handOver(Buffer.from(line, 'utf8'));
    }
    if (most <= chunk.length) filled += chunk.write(line, filled, 'utf8');
    if (filled >= LOG_CHUNK_BYTES) handOverChunk();
    flushSoon();
    return true;
  };
  destination.on('write', (bytes: number) => {
    unwritten = Math.max(0, unwritten - bytes);
    // What a write left (less than a chunk) goes out within LOG_FLUSH_MS too. An empty write (flush() with
    // nothing buffered) arms nothing: a miscount cannot keep a timer going.
    if (bytes > 0) flushSoon();
  });
  const flush = destination.flush.bind(destination);
  destination.flush = (cb?: (err?: Error) => unknown) => {
    handOverChunk();
    flush(cb);
  };
  const flushSync = destination.flushSync.bind(destination);
  destination.flushSync = () => {
    handOverChunk();
    flushSync();
    unwritten = 0;
  };
  destination.on('close', () => clearTimeout(timer));
  return destination;
}

/**
 * Resolves once every line the destination took is written, or after `timeoutMs` (a reader that stopped
 * reading stdout must not hold an exit). Before a graceful exit: the exit listener's `flushSync()` writes what
 * is buffered, but not a chunk the pool is writing at that moment, which the exit could cut off or put after
 * the lines written last. So: wait for the chunk under way (the 'drain' after it), then write the rest
 * synchronously, in order.
 */
export function written(destination: ReturnType<typeof pino.destination>, timeoutMs: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, timeoutMs);
    const rest = () => {
      clearTimeout(timer);
      try {
        destination.flushSync();
      } catch {
        // ended, or stdout is gone: nothing left to write to
      }
      done();
    };
    try {
      destination.flush(rest);
    } catch {
      rest();
    }
  });
}

/**
 * pino's isoTime, formatted once per millisecond: at a few thousand lines a second most lines share their
 * millisecond with the line before, and formatting a Date was a sixth of a line's time in a profile of the
 * ingest (BENCHMARKS.md, session 15).
 */
let stampedAt = Number.NaN;
let stamp = '';
function isoTimeOfThisMillisecond(): string {
  const now = Date.now();
  if (now !== stampedAt) {
    stampedAt = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

export function createLogger(options: {
  level: string;
  destination?: pino.DestinationStream;
  /** Values written out wherever they appear in a line (the configured secrets: app secret, keys, tokens). */
  secrets?: readonly string[];
}): Logger {
  const scrub = textScrubber(options.secrets ?? []);
  const clean = <T>(value: T): T => redactSecrets(value, 0, scrub);
  const logger = pino(
    {
      level: options.level,
      base: { service: 'feishu-exam-gateway' },
      timestamp: isoTimeOfThisMillisecond,
      serializers: { err: (err: unknown) => clean(serializeError(err)) },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => clean(object),
      },
      // The message is text too (an error's message is often part of it).
      hooks: {
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++)
            if (typeof args[i] === 'string') (args as unknown[])[i] = scrub(args[i] as string);
          return method.apply(this, args);
        },
      },
    },
    options.destination,
  );
  // A child's bindings go through the net too (pino gives children no bindings formatter). Children are
  // made from their parent's prototype chain, so theirs are covered by this one override.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, clean(bindings), childOptions);
  } as typeof logger.child;
  scrubberOf.set(logger, scrub);
  for (const value of options.secrets ?? []) scrubText.add(value);
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

/**
 * The text with a candidate's exact email and phone number masked: what a far side's error repeats of the
 * candidate it was given, in whatever country's format (the log's net only knows mainland numbers' shape).
 */
export function maskCandidateIn(
  text: string,
  candidate: { email?: string | null; mobileNumber?: string | null },
): string {
  let out = text;
  const { email, mobileNumber } = candidate;
  if (email && email.length >= 3) {
    const masked = maskEmail(email) ?? '***';
    // As given, and percent-encoded (a platform repeating the URL it was asked: /candidates/a.b%40x.org).
    for (const form of new Set([email, encodeURIComponent(email)]))
      out = out.replace(new RegExp(escapeRegExp(form), 'gi'), masked);
  }
  const digits = mobileNumber?.replace(/\D/g, '');
  if (digits && digits.length >= 5) {
    // The same digits however they are grouped: "138 0013 8000", "138-0013-8000", "(138) 0013 8000".
    const anyGrouping = new RegExp(`(?<!\\d)${digits.split('').join('[\\s().-]*')}(?!\\d)`, 'g');
    out = out.replace(anyGrouping, maskPhone(digits) ?? '***');
  }
  return out;
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

// log: structured JSON logs (pino). Secrets never reach a line; candidate phone and email only masked.
import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * A safety net under the rule "never log a secret": if an object carrying one of these keys is ever
 * logged, the value is replaced. The primary defence is not passing secrets to the logger at all.
 */
const redactedPaths = [
  'appSecret',
  'app_secret',
  'encryptKey',
  'encrypt_key',
  'verificationToken',
  'verification_token',
  'token',
  'tenant_access_token',
  'app_access_token',
  'authorization',
  '*.appSecret',
  '*.app_secret',
  '*.encryptKey',
  '*.verificationToken',
  '*.token',
  '*.tenant_access_token',
  '*.authorization',
  'headers.authorization',
  'headers["x-lark-signature"]',
  'mobile',
  'email',
  '*.mobile',
  '*.email',
];

export function createLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'feishu-exam-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactedPaths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

/** "18900001111" → "189****1111": the middle never shows; short numbers keep only their last two digits. */
export function maskPhone(number: string | undefined, code?: string): string | undefined {
  if (!number) return undefined;
  const digits = number.trim();
  const masked =
    digits.length >= 8 ? `${digits.slice(0, 3)}****${digits.slice(-4)}` : `****${digits.slice(-2)}`;
  return code ? `+${code.replace(/^\+/, '')} ${masked}` : masked;
}

/** "wang.er@example.com" → "w***@example.com". */
export function maskEmail(email: string | undefined): string | undefined {
  if (!email) return undefined;
  const at = email.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${email[0]}***${email.slice(at)}`;
}

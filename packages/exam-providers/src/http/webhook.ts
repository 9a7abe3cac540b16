import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ProviderError, type WebhookRequest, type WebhookResults } from '../contract.js';
import { HEADER_NAME } from './request-url.js';
import { jsonPath, readResult, resultMapping } from './result-mapping.js';

/** A result webhook declared in YAML: the platform signs the raw body with an HMAC; the gateway checks it. */
export const resultWebhookOptions = z
  .object({
    signature: z
      .object({
        header: z
          .string()
          .regex(HEADER_NAME, 'is not an HTTP header name, e.g. x-signature')
          .describe('the header carrying the signature, e.g. x-quizly-signature'),
        algorithm: z.enum(['sha256', 'sha512', 'sha1']).default('sha256').describe('the HMAC’s hash'),
        encoding: z.enum(['hex', 'base64']).default('hex').describe('how the signature is written'),
        prefix: z.string().default('').describe('text before the signature in the header, e.g. "sha256="'),
        secret: z
          .string()
          .regex(
            /^[A-Z][A-Z0-9_]*$/,
            'must be the name of an environment variable, e.g. QUIZLY_WEBHOOK_SECRET',
          )
          .describe('the environment variable holding the shared secret (never the secret itself)'),
        timestamp: z
          .object({
            header: z
              .string()
              .regex(HEADER_NAME, 'is not an HTTP header name, e.g. x-timestamp')
              .describe('the header carrying when the platform sent the request, e.g. x-quizly-timestamp'),
            unit: z
              .enum(['seconds', 'milliseconds'])
              .default('seconds')
              .describe('the timestamp’s unit (since 1970-01-01 UTC)'),
            signed: z
              .string()
              .refine(
                (t) =>
                  t.endsWith('{body}') &&
                  t.split('{timestamp}').length === 2 &&
                  t.split('{body}').length === 2,
                'must hold {timestamp} once and end with {body}, e.g. "{timestamp}.{body}"',
              )
              .default('{timestamp}.{body}')
              .describe('what the HMAC covers, e.g. "{timestamp}.{body}" or "v0:{timestamp}:{body}"'),
            toleranceSeconds: z
              .number()
              .int()
              .min(1)
              .max(3600)
              .default(300)
              .describe('how far from now the timestamp may be: a request signed longer ago is a replay'),
          })
          .strict()
          .optional()
          .describe(
            'the platform also signs when it sent the request: a captured request replayed later is refused',
          ),
      })
      .strict(),
    /** Where the results are in the body ($ is the body: one result); each item read by `result`. */
    items: jsonPath.optional().describe('where the list of results is (absent: the body is one result)'),
    examId: jsonPath.describe('Feishu’s exam id in a result (the one createExam was given as exam.id)'),
    result: resultMapping.describe('how to read each result, as fetchResult.response'),
  })
  .strict();

export type ResultWebhookOptions = z.output<typeof resultWebhookOptions>;

/** The text the HMAC covers before the body: the body alone, or the signed template with its timestamp. */
function signedPrefix(options: ResultWebhookOptions, request: WebhookRequest, now: number) {
  const stamp = options.signature.timestamp;
  if (!stamp) return { ok: true as const, prefix: '' };
  const presented = request.headers[stamp.header.toLowerCase()];
  const text = typeof presented === 'string' ? presented.trim() : '';
  if (!/^\d{1,16}$/.test(text)) return { ok: false as const, why: `no ${stamp.header} header` };
  const sentAt = Number(text) * (stamp.unit === 'seconds' ? 1000 : 1);
  if (Math.abs(now - sentAt) > stamp.toleranceSeconds * 1000)
    return {
      ok: false as const,
      why: `${stamp.header} is more than ${stamp.toleranceSeconds} s from now (a replay, or the platform's clock is off)`,
    };
  return { ok: true as const, prefix: stamp.signed.slice(0, -'{body}'.length).replace('{timestamp}', text) };
}

export function resultWebhook(
  options: ResultWebhookOptions,
  secret: string,
  instanceId: string,
  now: () => number,
) {
  const refuse = (why: string) =>
    new ProviderError(`the result webhook is refused: ${why}`, false, instanceId);
  // Signed, so from the platform, but unreadable: a validation error (422), not a bad signature (401).
  const invalid = (why: string) =>
    new ProviderError(`the result webhook is refused: ${why}`, false, instanceId, { code: 'invalid_answer' });
  // Node hands over header names in lower case; the configuration may spell one X-Quizly-Signature.
  const headerName = options.signature.header.toLowerCase();
  return async (request: WebhookRequest): Promise<WebhookResults> => {
    const { header, algorithm, encoding, prefix } = options.signature;
    const presented = request.headers[headerName];
    if (typeof presented !== 'string' || !presented.startsWith(prefix)) throw refuse(`no ${header} header`);
    // The time is checked before the signature, and its text (as sent) is what the signature covers.
    const signed = signedPrefix(options, request, now());
    if (!signed.ok) throw refuse(signed.why);
    const expected = createHmac(algorithm, secret).update(signed.prefix).update(request.rawBody).digest();
    const given = Buffer.from(presented.slice(prefix.length).trim(), encoding);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw refuse(`the ${header} signature does not match the body`);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(request.rawBody).toString('utf8'));
    } catch {
      throw invalid('the body is not JSON');
    }
    const items = options.items ? options.items.get(body) : [body];
    if (!Array.isArray(items)) throw invalid(`no list at ${options.items?.source}`);
    return items.flatMap((item) => {
      const examId = options.examId.get(item);
      const result = readResult(options.result, item, instanceId);
      return typeof examId === 'string' && examId && result ? [{ examId, result }] : [];
    });
  };
}

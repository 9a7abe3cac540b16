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
      })
      .strict(),
    /** Where the results are in the body ($ is the body: one result); each item read by `result`. */
    items: jsonPath.optional().describe('where the list of results is (absent: the body is one result)'),
    examId: jsonPath.describe('Feishu’s exam id in a result (the one createExam was given as exam.id)'),
    result: resultMapping.describe('how to read each result, as fetchResult.response'),
  })
  .strict();

export type ResultWebhookOptions = z.output<typeof resultWebhookOptions>;

export function resultWebhook(options: ResultWebhookOptions, secret: string, instanceId: string) {
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
    const expected = createHmac(algorithm, secret).update(request.rawBody).digest();
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

import type { z } from 'zod';
import {
  arrangementSchema,
  type ExamProvider,
  examResultSchema,
  ProviderError,
  paperListSchema,
  webhookResultsSchema,
} from './contract.js';

const BOUNDED = Symbol.for('@feishu-exam/exam-providers.bounded');

/** `reports[0].url`, as a person reads a path. */
function describePath(root: string, path: ReadonlyArray<PropertyKey>): string {
  let out = root;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `${out ? '.' : ''}${String(key)}`;
  return out || 'the value';
}

/**
 * The value, checked against its schema; otherwise a permanent ProviderError naming the field and the
 * limit. Never the value itself: it came from outside and may be huge, hostile or personal.
 */
export function checkBounded<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  root: string,
  providerId: string,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .slice(0, 3)
    .map((issue) => `${describePath(root, issue.path)}: ${issue.message}`);
  throw new ProviderError(
    `the exam platform's ${what} is refused: ${problems.join('; ')}`,
    false,
    providerId,
    { code: 'invalid_answer' },
  );
}

/** True for a provider whose answers already go through {@link boundProvider}. */
export function isBoundedProvider(provider: ExamProvider): boolean {
  return (provider as unknown as Record<symbol, unknown>)[BOUNDED] === true;
}

/**
 * The provider with every answer checked against the contract's schemas (lengths, http(s) URLs, whole
 * epoch milliseconds): the one place a vendor's value is bounded before the gateway stores it, shows it or
 * sends it to Feishu. Applied by defineProvider and again by the registry (a no-op the second time), so
 * no provider reaches the gateway without it.
 */
export function boundProvider(provider: ExamProvider): ExamProvider {
  if (isBoundedProvider(provider)) return provider;
  const id = provider.id;
  const bounded: ExamProvider = {
    id,
    ...(provider.callTimeoutMs === undefined ? {} : { callTimeoutMs: provider.callTimeoutMs }),
    ...(provider.simulated ? { simulated: true } : {}),
    ...(provider.accountFields ? { accountFields: provider.accountFields } : {}),
    createExam: async (request) =>
      checkBounded(arrangementSchema, await provider.createExam(request), 'arrangement', '', id),
    ...(provider.listPapers
      ? {
          listPapers: async (account) =>
            checkBounded(
              paperListSchema,
              await provider.listPapers?.(account),
              'list of papers',
              'papers',
              id,
            ),
        }
      : {}),
    ...(provider.cancelExam ? { cancelExam: (ref) => provider.cancelExam?.(ref) as Promise<void> } : {}),
    ...(provider.fetchResult
      ? {
          fetchResult: async (ref) => {
            const result = await provider.fetchResult?.(ref);
            return result === undefined
              ? undefined
              : checkBounded(examResultSchema, result, 'result', '', id);
          },
        }
      : {}),
    ...(provider.parseResultWebhook
      ? {
          parseResultWebhook: async (request) =>
            checkBounded(
              webhookResultsSchema,
              await provider.parseResultWebhook?.(request),
              'result webhook',
              'results',
              id,
            ),
        }
      : {}),
  };
  Object.defineProperty(bounded, BOUNDED, { value: true });
  return bounded;
}

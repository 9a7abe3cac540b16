import { z } from 'zod';
import { type ExamResult, ProviderError } from '../contract.js';
import { compileJsonPath, type JsonPath } from './json-path.js';

/**
 * How a low-code provider reads a result from a platform's JSON (a polled answer or a webhook's item): every
 * field of Feishu's update_result has a key. Times may be epoch milliseconds or ISO 8601 text with `Z` or an offset.
 */
export const jsonPath = z
  .string()
  .transform((source, ctx): JsonPath => {
    const compiled = compileJsonPath(source);
    if (typeof compiled === 'string') {
      ctx.addIssue({ code: 'custom', message: compiled });
      return z.NEVER;
    }
    return compiled;
  })
  .meta({ 'x-kind': 'json-path', description: 'a JSON path, e.g. $.data.score' });

const listOf = <S extends z.ZodRawShape>(shape: S, what: string) =>
  z
    .object({
      items: jsonPath.describe(
        `where the list of ${what} is; the other paths read each item ($ is the item)`,
      ),
      ...shape,
    })
    .strict();

export const resultMapping = z
  .object({
    score: jsonPath.describe('the score (→ result); while it reads nothing, the exam is unfinished'),
    resultTime: jsonPath.optional().describe('when the result was produced (→ result_time)'),
    reportUrl: jsonPath.optional().describe('one report’s URL (→ report_list[0].url)'),
    reportName: z
      .string()
      .min(1)
      .max(255)
      .default('Report')
      .describe('that report’s name (text, not a path)'),
    answerTime: jsonPath
      .optional()
      .describe('when the candidate finished answering (→ answer_time of each report without its own)'),
    reports: listOf(
      {
        name: jsonPath.describe('a report’s name'),
        url: jsonPath.describe('a report’s URL'),
        answerTime: jsonPath.optional().describe('when the candidate finished (→ answer_time)'),
      },
      'reports',
    )
      .optional()
      .describe('several reports (→ report_list), after reportUrl’s'),
    details: listOf(
      {
        name: jsonPath.describe('a detail’s name, e.g. a section'),
        result: jsonPath.describe('its result, as text'),
        id: jsonPath.optional().describe('its id'),
      },
      'details',
    )
      .optional()
      .describe('per-section results (→ detail_list)'),
  })
  .strict();

export type ResultMapping = z.output<typeof resultMapping>;

/**
 * The text at `path`, none for an empty value; an object or a list there is no text (String() would make it
 * "[object Object]"): the platform's `what` (its result, its arrangement) is refused as an invalid answer.
 */
export function textAt(
  path: JsonPath,
  from: unknown,
  providerId: string,
  what: 'result' | 'arrangement' = 'result',
): string | undefined {
  const v = path.get(from);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'object')
    throw new ProviderError(
      `the exam platform's ${what} is refused: ${path.source} is not text (an object or a list)`,
      false,
      providerId,
      { code: 'invalid_answer' },
    );
  return String(v);
}

/**
 * ISO 8601 text that says which instant it is: with `Z` or an offset. Without one ("2024-03-01 10:00:00"),
 * Date.parse reads the gateway host's time zone, and the time sent to Hire moved by 8 hours between a UTC
 * container and a machine in China: such text is read as no time, as any other unreadable text.
 */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

function epochMs(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && v) {
    if (/^\d+$/.test(v)) return Number(v);
    if (!ISO_INSTANT.test(v)) return undefined;
    const parsed = Date.parse(v);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}

/**
 * The result in an answer; undefined while its score reads nothing. Bounds are checked by the caller; a value
 * that is not text is refused here.
 */
export function readResult(map: ResultMapping, answer: unknown, providerId: string): ExamResult | undefined {
  const text = (path: JsonPath, from: unknown) => textAt(path, from, providerId);
  const score = text(map.score, answer);
  if (score === undefined) return undefined;
  const answerTime = map.answerTime ? epochMs(map.answerTime.get(answer)) : undefined;
  const reports: Array<{ name: string; url: string; answerTime?: number }> = [];
  const single = map.reportUrl ? text(map.reportUrl, answer) : undefined;
  if (single) reports.push({ name: map.reportName, url: single, ...(answerTime ? { answerTime } : {}) });
  const declaredReports = map.reports;
  for (const item of declaredReports ? list(declaredReports.items.get(answer)) : []) {
    if (!declaredReports) break;
    const name = text(declaredReports.name, item);
    const url = text(declaredReports.url, item);
    if (!name || !url) continue;
    const own = declaredReports.answerTime ? epochMs(declaredReports.answerTime.get(item)) : undefined;
    const time = own ?? answerTime;
    reports.push({ name, url, ...(time ? { answerTime: time } : {}) });
  }
  const declaredDetails = map.details;
  const details = declaredDetails
    ? list(declaredDetails.items.get(answer)).flatMap((item) => {
        const name = text(declaredDetails.name, item);
        const result = text(declaredDetails.result, item);
        const id = declaredDetails.id ? text(declaredDetails.id, item) : undefined;
        return name && result ? [{ name, result, ...(id ? { id } : {}) }] : [];
      })
    : [];
  const resultTime = map.resultTime ? epochMs(map.resultTime.get(answer)) : undefined;
  return {
    score,
    ...(resultTime !== undefined ? { resultTime } : {}),
    ...(reports.length ? { reports } : {}),
    ...(details.length ? { details } : {}),
  };
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

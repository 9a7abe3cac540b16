import { z } from 'zod';
import type { ExamResult } from '../contract.js';
import { compileJsonPath, type JsonPath } from './json-path.js';

/**
 * How a low-code provider reads a result from a platform's JSON (a polled answer or a webhook's item): every
 * field of Feishu's update_result has a key. Times may be epoch milliseconds or ISO 8601 text.
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

const text = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : String(v));

function epochMs(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && v) {
    if (/^\d+$/.test(v)) return Number(v);
    const parsed = Date.parse(v);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}

/** The result in an answer; undefined while its score reads nothing. Bounds are checked by the caller. */
export function readResult(map: ResultMapping, answer: unknown): ExamResult | undefined {
  const score = text(map.score.get(answer));
  if (score === undefined) return undefined;
  const answerTime = map.answerTime ? epochMs(map.answerTime.get(answer)) : undefined;
  const reports: Array<{ name: string; url: string; answerTime?: number }> = [];
  const single = map.reportUrl ? text(map.reportUrl.get(answer)) : undefined;
  if (single) reports.push({ name: map.reportName, url: single, ...(answerTime ? { answerTime } : {}) });
  for (const item of list(map.reports?.items.get(answer))) {
    const name = text(map.reports?.name.get(item));
    const url = text(map.reports?.url.get(item));
    if (!name || !url) continue;
    const own = map.reports?.answerTime ? epochMs(map.reports.answerTime.get(item)) : undefined;
    const time = own ?? answerTime;
    reports.push({ name, url, ...(time ? { answerTime: time } : {}) });
  }
  const details = list(map.details?.items.get(answer)).flatMap((item) => {
    const name = text(map.details?.name.get(item));
    const result = text(map.details?.result.get(item));
    const id = map.details?.id ? text(map.details.id.get(item)) : undefined;
    return name && result ? [{ name, result, ...(id ? { id } : {}) }] : [];
  });
  const resultTime = map.resultTime ? epochMs(map.resultTime.get(answer)) : undefined;
  return {
    score,
    ...(resultTime !== undefined ? { resultTime } : {}),
    ...(reports.length ? { reports } : {}),
    ...(details.length ? { details } : {}),
  };
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

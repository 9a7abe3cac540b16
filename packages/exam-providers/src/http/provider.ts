import { z } from 'zod';
import {
  type AccountField,
  AnswerTooLargeError,
  type Arrangement,
  type BoundAccount,
  type ExamRef,
  type ExamRequest,
  type ExamResult,
  MAX_ANSWER_BYTES,
  type Paper,
  type ProviderContext,
  ProviderError,
  readAnswerText,
  retryAfterMs,
} from '../contract.js';
import { defineProvider, OptionsError, type OptionsIssue } from '../define.js';
import type { JsonPath } from './json-path.js';
import { compileRequestUrl, HEADER_NAME, headerValueProblem, type RequestUrl } from './request-url.js';
import { jsonPath, readResult, resultMapping, textAt } from './result-mapping.js';
import { type AllowedRoots, type CompiledTemplate, compileTemplate, type TemplateVars } from './template.js';
import { resultWebhook, resultWebhookOptions } from './webhook.js';

/**
 * The low-code provider: an exam platform's HTTP API declared in configuration, no code. Requests are
 * templates filled from the exam; answers are mapped by JSON paths; statuses worth retrying are declared.
 */

const headers = z
  .record(z.string(), z.string())
  .superRefine((declared, ctx) => {
    for (const name of Object.keys(declared))
      if (!HEADER_NAME.test(name))
        ctx.addIssue({ code: 'custom', path: [name], message: 'is not an HTTP header name, e.g. x-api-key' });
  })
  .default({})
  .meta({ 'x-kind': 'template', description: 'header names and values (templates)' });

const request = {
  path: z
    .string()
    .min(1, 'is required: the path after baseUrl, e.g. /v1/exams')
    .meta({ 'x-kind': 'template', description: 'after baseUrl, e.g. /v1/exams/{{exam.platformExamId}}' }),
  headers,
  body: z
    .unknown()
    .optional()
    .meta({ 'x-kind': 'template', description: 'a JSON body; every string in it may hold templates' }),
};

const accountField = z
  .object({
    key: z.string().min(1).describe('read in templates as account.fields.<key>'),
    name: z
      .object({ zh_cn: z.string().optional(), en_us: z.string().optional() })
      .strict()
      .describe('what customers see when they bind an account'),
    required: z.boolean().default(false).describe('whether a customer must fill it in'),
    description: z
      .object({ zh_cn: z.string().optional(), en_us: z.string().optional() })
      .strict()
      .optional()
      .describe('a hint under the field'),
  })
  .strict();

/** Where an arrangement is in createExam's answer (and in createExam.existing's). */
const createExamResponse = z
  .object({
    examUrl: jsonPath.describe('the candidate’s link (→ login_info exam_url); http(s)'),
    username: jsonPath.optional().describe('a login name (→ username)'),
    password: jsonPath.optional().describe('a password (→ password); never logged'),
    platformExamId: jsonPath
      .optional()
      .describe('the platform’s id of the sitting: fetchResult templates read it as exam.platformExamId'),
  })
  .strict();

export const httpOptions = z
  .object({
    baseUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .describe('the API’s root; every path is under it'),
    timeoutMs: z.number().int().min(100).max(60_000).default(10_000).describe('one call’s timeout'),
    /** Sent with every request; templates may read secrets. */
    headers: headers.meta({ 'x-kind': 'template', description: 'sent with every request (templates)' }),
    /** Answers worth retrying: status codes, or "5xx". Any other non-2xx is a permanent failure. */
    retryOn: z
      .array(z.union([z.number().int().min(100).max(599), z.literal('5xx')]))
      .default([408, 425, 429, '5xx'])
      .describe('statuses worth retrying, or 5xx; any other non-2xx is a permanent failure'),
    accountFields: z
      .array(accountField)
      .default([])
      .describe('custom fields customers fill in when binding an account (账号自定义字段)'),
    createExam: z
      .object({
        method: z.enum(['POST', 'PUT', 'PATCH', 'GET']).default('POST'),
        ...request,
        response: createExamResponse,
        existing: z
          .object({
            on: z
              .array(z.number().int().min(400).max(499))
              .min(1)
              .default([409])
              .describe('the statuses of createExam that say this exam id was arranged before'),
            method: z.enum(['GET', 'POST']).default('GET'),
            ...request,
            response: createExamResponse
              .optional()
              .describe('where the exam URL and the rest are in this answer; createExam.response by default'),
          })
          .strict()
          .optional()
          .describe(
            'finds the exam arranged before when createExam answers that its id exists (a retry after an answer that was lost)',
          ),
      })
      .strict()
      .describe('arranges an exam when staff approve it (required)'),
    /** Polling for results: the answer holds a result once `score` reads a value. */
    fetchResult: z
      .object({
        method: z.enum(['GET', 'POST']).default('GET'),
        ...request,
        response: resultMapping,
      })
      .strict()
      .optional()
      .describe('polls for the result of an arranged exam'),
    /** Push: the platform posts results to /webhook/provider/<id>, signed with an HMAC of the body. */
    resultWebhook: resultWebhookOptions
      .optional()
      .describe('results pushed to POST /webhook/provider/<id>, signed with an HMAC of the body'),
    listPapers: z
      .object({
        method: z.enum(['GET', 'POST']).default('GET'),
        ...request,
        response: z
          .object({
            items: jsonPath.describe(
              'where the list of papers is; the other paths read each item ($ is the item)',
            ),
            id: jsonPath.describe('a paper’s id (≤ 255 characters)'),
            name: jsonPath.describe('its name (≤ 255 characters)'),
            durationMinutes: jsonPath.optional().describe('its duration in minutes'),
            questionCount: jsonPath.optional().describe('how many questions it has'),
          })
          .strict(),
      })
      .strict()
      .optional()
      .describe('lists the papers of a bound account, published to Feishu'),
  })
  .strict();

/** What a template may read, per operation. */
export const EXAM_ROOTS: AllowedRoots = {
  exam: ['id', 'paperId', 'accountId'],
  candidate: ['name', 'email', 'mobile.code', 'mobile.number'],
  account: ['id', 'name', 'fields.*'],
  secrets: undefined,
};
export const ACCOUNT_ROOTS: AllowedRoots = { account: ['id', 'name', 'fields.*'], secrets: undefined };
export const RESULT_ROOTS: AllowedRoots = { exam: ['id', 'platformExamId'], secrets: undefined };

type Part = { value: unknown; path: PropertyKey[]; roots: AllowedRoots };

/** What call() returns for an answer of a status createExam.existing.on names. */
const ARRANGED_BEFORE = Symbol('arranged before');

/** Compiles every template of a declaration at once; all problems, secrets included, in one OptionsError. */
function compileAll<K extends string>(
  parts: Record<K, Part>,
  ctx: ProviderContext,
): Record<K, CompiledTemplate> {
  const issues: OptionsIssue[] = [];
  const templates = {} as Record<K, CompiledTemplate>;
  for (const [name, part] of Object.entries(parts) as Array<[K, Part]>) {
    const result = compileTemplate(part.value, '', part.roots);
    if (!result.ok) {
      for (const message of result.errors)
        issues.push({ path: part.path, message: message.replace(/^: /, '') });
      templates[name] = { variables: [], render: () => undefined };
      continue;
    }
    for (const variable of result.template.variables) {
      if (variable.startsWith('secrets.') && ctx.secret(variable.slice('secrets.'.length)) === undefined) {
        issues.push({
          path: part.path,
          message: `the secret ${variable.slice('secrets.'.length)} is not set in the environment; set it, or remove {{${variable}}}`,
        });
      }
    }
    templates[name] = result.template;
  }
  if (issues.length > 0) throw new OptionsError(issues);
  return templates;
}

export const httpProvider = defineProvider({
  id: 'http',
  options: httpOptions,
  create(options, ctx, instanceId) {
    const {
      baseHeaders,
      examHeaders,
      examBody,
      existingHeaders,
      existingBody,
      papersHeaders,
      papersBody,
      resultHeaders,
      resultBody,
    } = compileAll(
      // Paths are compiled here only to check their variables; they are filled by compileRequestUrl.
      {
        baseHeaders: { value: options.headers, path: ['headers'], roots: ACCOUNT_ROOTS },
        examPath: { value: options.createExam.path, path: ['createExam', 'path'], roots: EXAM_ROOTS },
        examHeaders: {
          value: options.createExam.headers,
          path: ['createExam', 'headers'],
          roots: EXAM_ROOTS,
        },
        examBody: { value: options.createExam.body, path: ['createExam', 'body'], roots: EXAM_ROOTS },
        existingPath: {
          value: options.createExam.existing?.path ?? '',
          path: ['createExam', 'existing', 'path'],
          roots: EXAM_ROOTS,
        },
        existingHeaders: {
          value: options.createExam.existing?.headers ?? {},
          path: ['createExam', 'existing', 'headers'],
          roots: EXAM_ROOTS,
        },
        existingBody: {
          value: options.createExam.existing?.body,
          path: ['createExam', 'existing', 'body'],
          roots: EXAM_ROOTS,
        },
        papersPath: {
          value: options.listPapers?.path ?? '',
          path: ['listPapers', 'path'],
          roots: ACCOUNT_ROOTS,
        },
        papersHeaders: {
          value: options.listPapers?.headers ?? {},
          path: ['listPapers', 'headers'],
          roots: ACCOUNT_ROOTS,
        },
        papersBody: { value: options.listPapers?.body, path: ['listPapers', 'body'], roots: ACCOUNT_ROOTS },
        resultPath: {
          value: options.fetchResult?.path ?? '',
          path: ['fetchResult', 'path'],
          roots: RESULT_ROOTS,
        },
        resultHeaders: {
          value: options.fetchResult?.headers ?? {},
          path: ['fetchResult', 'headers'],
          roots: RESULT_ROOTS,
        },
        resultBody: {
          value: options.fetchResult?.body,
          path: ['fetchResult', 'body'],
          roots: RESULT_ROOTS,
        },
      },
      ctx,
    );
    const webhookSecret = options.resultWebhook
      ? ctx.secret(options.resultWebhook.signature.secret)
      : undefined;
    if (options.resultWebhook && !webhookSecret)
      throw new OptionsError([
        {
          path: ['resultWebhook', 'signature', 'secret'],
          message: `the secret ${options.resultWebhook.signature.secret} is not set in the environment; set it to the secret the platform signs its webhooks with`,
        },
      ]);
    const secrets = new Proxy(
      {},
      { get: (_t, name) => (typeof name === 'string' ? ctx.secret(name) : undefined) },
    );
    const retryable = (status: number) =>
      options.retryOn.some((r) => (r === '5xx' ? status >= 500 : r === status));

    const urls = {
      createExam: compileRequestUrl(options.baseUrl, options.createExam.path),
      existingExam: compileRequestUrl(options.baseUrl, options.createExam.existing?.path ?? ''),
      fetchResult: compileRequestUrl(options.baseUrl, options.fetchResult?.path ?? ''),
      listPapers: compileRequestUrl(options.baseUrl, options.listPapers?.path ?? ''),
    };
    type Operation = keyof typeof urls;

    /** The operation's URL for these values; a value that would bend it is refused for good, unsent. */
    function urlFor(operation: Operation, vars: TemplateVars): URL {
      const built: RequestUrl = urls[operation](vars);
      if (built.ok) return built.url;
      // The reason names the variable, never its value: the value may be hostile, or personal.
      throw new ProviderError(`the ${operation} request is refused: ${built.reason}`, false, instanceId);
    }

    /** Rendered header values as text; one that no header can carry is refused, not left to fetch. */
    function headersFor(operation: Operation, ...rendered: unknown[]): Record<string, string> {
      const out: Record<string, string> = {};
      for (const part of rendered) {
        for (const [name, value] of Object.entries((part ?? {}) as Record<string, unknown>)) {
          if (value === undefined || value === null) continue;
          const text = String(value);
          const problem = headerValueProblem(text);
          if (problem)
            throw new ProviderError(
              `the ${operation} request is refused: the header ${name} ${problem}`,
              false,
              instanceId,
            );
          out[name] = text;
        }
      }
      return out;
    }

    /**
     * One call; its answer as JSON. With `arrangedBefore`, an answer of one of those statuses is not a failure:
     * ARRANGED_BEFORE is returned instead (createExam.existing).
     */
    async function call(
      method: string,
      url: URL,
      headers: Record<string, string>,
      body: unknown,
      arrangedBefore?: readonly number[],
    ): Promise<unknown> {
      let response: Response;
      let text: string;
      try {
        response = await ctx.fetch(url, {
          method,
          headers: {
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...headers,
          },
          body: body === undefined || method === 'GET' ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(options.timeoutMs),
          // Never followed: a 307 would carry the headers (the API key) and the candidate to wherever it points.
          redirect: 'manual',
        });
        // Read inside: the body can break off too (the connection drops, the timeout fires meanwhile).
        text = await readAnswerText(response);
      } catch (err) {
        if (err instanceof AnswerTooLargeError) {
          throw new ProviderError(
            `the exam platform answered with more than ${MAX_ANSWER_BYTES / (1024 * 1024)} MB`,
            false,
            instanceId,
            { code: 'invalid_answer' },
          );
        }
        throw new ProviderError(
          `the exam platform did not answer (${(err as Error).name === 'TimeoutError' ? `timeout after ${options.timeoutMs} ms` : 'network error'})`,
          true,
          instanceId,
          { cause: err },
        );
      }
      if (response.status >= 300 && response.status < 400) {
        throw new ProviderError(
          `the exam platform answered with a redirect (HTTP ${response.status}), which is not followed: set baseUrl to where its API answers`,
          false,
          instanceId,
        );
      }
      if (arrangedBefore?.includes(response.status)) return ARRANGED_BEFORE;
      if (!response.ok) {
        // Never echo the platform's body: it may repeat credentials or candidate data.
        const again = retryable(response.status);
        throw new ProviderError(`the exam platform answered HTTP ${response.status}`, again, instanceId, {
          retryAfterMs: again ? retryAfterMs(response.headers.get('retry-after'), ctx.now()) : undefined,
        });
      }
      try {
        return text === '' ? {} : JSON.parse(text);
      } catch {
        throw new ProviderError(
          'the exam platform answered with something that is not JSON',
          false,
          instanceId,
        );
      }
    }

    const accountVars = (account: BoundAccount | undefined) => ({
      id: account?.accountId,
      name: account?.name,
      fields: account?.fields ?? {},
    });
    // An empty value is none: a link-only exam answers `"password": ""`, which the bounds would refuse.
    const arrangementText = (path: JsonPath, from: unknown) => textAt(path, from, instanceId, 'arrangement');

    return {
      id: instanceId,
      callTimeoutMs: options.timeoutMs,
      accountFields: options.accountFields as AccountField[],
      async createExam(req: ExamRequest): Promise<Arrangement> {
        const vars = {
          exam: { id: req.examId, paperId: req.paperId, accountId: req.accountId },
          candidate: req.candidate,
          account: accountVars(req.account),
          secrets,
        };
        const existing = options.createExam.existing;
        let answer = await call(
          options.createExam.method,
          urlFor('createExam', vars),
          headersFor('createExam', baseHeaders.render(vars), examHeaders.render(vars)),
          examBody.render(vars),
          existing?.on,
        );
        let map = options.createExam.response;
        if (answer === ARRANGED_BEFORE && existing) {
          // The platform has this exam already: an earlier call arranged it and its answer was lost (a
          // timeout, a restart). Read that arrangement rather than fail an exam the candidate may be sitting.
          answer = await call(
            existing.method,
            urlFor('existingExam', vars),
            headersFor('existingExam', baseHeaders.render(vars), existingHeaders.render(vars)),
            existingBody.render(vars),
          );
          map = existing.response ?? map;
        }
        const examUrl = arrangementText(map.examUrl, answer);
        if (!examUrl || !/^https?:\/\//.test(examUrl)) {
          throw new ProviderError(
            `the exam platform's answer has no exam URL at ${map.examUrl.source}`,
            false,
            instanceId,
          );
        }
        return {
          examUrl,
          username: map.username ? arrangementText(map.username, answer) : undefined,
          password: map.password ? arrangementText(map.password, answer) : undefined,
          platformExamId: map.platformExamId ? arrangementText(map.platformExamId, answer) : undefined,
        };
      },
      ...(options.fetchResult
        ? {
            async fetchResult(ref: ExamRef): Promise<ExamResult | undefined> {
              const declared = options.fetchResult!;
              const vars = { exam: { id: ref.examId, platformExamId: ref.platformExamId }, secrets };
              const answer = await call(
                declared.method,
                urlFor('fetchResult', vars),
                headersFor('fetchResult', baseHeaders.render(vars), resultHeaders.render(vars)),
                resultBody.render(vars),
              );
              return readResult(declared.response, answer, instanceId);
            },
          }
        : {}),
      ...(options.resultWebhook && webhookSecret
        ? { parseResultWebhook: resultWebhook(options.resultWebhook, webhookSecret, instanceId, ctx.now) }
        : {}),
      ...(options.listPapers
        ? {
            async listPapers(account: BoundAccount | undefined): Promise<Paper[]> {
              const declared = options.listPapers!;
              const vars = { account: accountVars(account), secrets };
              const answer = await call(
                declared.method,
                urlFor('listPapers', vars),
                headersFor('listPapers', baseHeaders.render(vars), papersHeaders.render(vars)),
                papersBody.render(vars),
              );
              const items = declared.response.items.get(answer);
              if (!Array.isArray(items))
                throw new ProviderError(
                  `the exam platform's answer has no list at ${declared.response.items.source}`,
                  false,
                  instanceId,
                );
              return items
                .map((item) => {
                  const number = (p: JsonPath | undefined) => {
                    const n = p ? Number(p.get(item)) : Number.NaN;
                    return Number.isFinite(n) && n > 0 ? n : undefined;
                  };
                  return {
                    id: String(declared.response.id.get(item) ?? '').slice(0, 255),
                    name: String(declared.response.name.get(item) ?? '').slice(0, 255),
                    durationMinutes: number(declared.response.durationMinutes),
                    questionCount: number(declared.response.questionCount),
                  };
                })
                .filter((p) => p.id && p.name);
            },
          }
        : {}),
    };
  },
});

import {
  AnswerTooLargeError,
  type Arrangement,
  defineProvider,
  type ExamProvider,
  type ExamRef,
  type ExamRequest,
  type ExamResult,
  isRetryableStatus,
  MAX_ANSWER_BYTES,
  OptionsError,
  type Paper,
  ProviderError,
  readAnswerText,
  retryAfterMs,
} from '@feishu-exam/exam-providers';
import { z } from 'zod';
import {
  EXAM_ID_METADATA_KEY,
  hackerRankTest,
  page,
  REPORT_READY,
  type TestCandidate,
  testCandidate,
} from './api.js';

/**
 * HackerRank for Work (API v3). A paper is a HackerRank test; arranging an exam invites the candidate to
 * that test, and the candidate's invite link is the exam URL; the result is read from the candidate once
 * HackerRank has generated the report (status 7). Field names and their sources: ./api.ts.
 */
export const hackerRankOptions = z
  .object({
    baseUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .default('https://www.hackerrank.com'),
    /** The environment variable that holds the API key (HackerRank for Work: Settings, API). */
    apiKeySecret: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the name of an environment variable')
      .default('HACKERRANK_API_KEY'),
    timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
    /** Feishu Hire gives the candidate the link; set true to have HackerRank email the invitation as well. */
    sendEmail: z.boolean().default(false),
    /** Publish only these tests as papers. Default: every published test. */
    testIds: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type HackerRankOptions = z.input<typeof hackerRankOptions>;

const API = '/x/api/v3';
/** The account custom field a customer may fill in: a tag HackerRank puts on that customer's invitations. */
const CUSTOMER_TAG_FIELD = 'hackerrank_tag';
const PAGE_SIZE = 100;

/** platformExamId is "<test id>/<candidate id>": both are needed to read the candidate back. */
const platformId = (testId: string, candidateId: string) => `${testId}/${candidateId}`;

/** Feishu takes the score as a string ("60.5"); HackerRank's is a float. */
const scoreText = (score: number) => String(Math.round(score * 100) / 100);

export const hackerRankProvider = defineProvider({
  id: 'hackerrank',
  options: hackerRankOptions,
  create(options, ctx, instanceId): ExamProvider {
    const apiKey = ctx.secret(options.apiKeySecret);
    if (!apiKey) {
      throw new OptionsError([
        {
          path: ['apiKeySecret'],
          message: `the secret ${options.apiKeySecret} is not set in the environment; set it to your HackerRank for Work API key`,
        },
      ]);
    }
    const fail = (message: string, retryable: boolean, cause?: unknown, waitMs?: number) =>
      new ProviderError(message, retryable, instanceId, { cause, retryAfterMs: waitMs });

    /** One API call. Resolves with the status and the parsed body; throws only for what no caller handles. */
    async function call(method: 'GET' | 'POST', path: string, body?: unknown) {
      let response: Response;
      let text: string;
      try {
        response = await ctx.fetch(new URL(path, options.baseUrl), {
          method,
          headers: {
            authorization: `Bearer ${apiKey}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(options.timeoutMs),
          // Never followed: a 307 would re-send the candidate's details wherever it points.
          redirect: 'manual',
        });
        // Read inside: the body can break off too; and read up to a cap, never a runaway answer whole.
        text = await readAnswerText(response);
      } catch (err) {
        if (err instanceof AnswerTooLargeError)
          throw new ProviderError(
            `HackerRank answered with more than ${MAX_ANSWER_BYTES / (1024 * 1024)} MB: not read`,
            false,
            instanceId,
            { code: 'invalid_answer' },
          );
        const why =
          (err as Error).name === 'TimeoutError' ? `timeout after ${options.timeoutMs} ms` : 'network error';
        throw fail(`HackerRank did not answer (${why})`, true, err);
      }
      // Never echo HackerRank's body into a message: it may repeat the candidate's details.
      if (response.status === 401 || response.status === 403) {
        throw fail(
          `HackerRank refused the API key (HTTP ${response.status}): check ${options.apiKeySecret}`,
          false,
        );
      }
      if (response.status >= 300 && response.status < 400) {
        throw fail(
          `HackerRank answered with a redirect (HTTP ${response.status}), which is not followed: check baseUrl`,
          false,
        );
      }
      const wait = retryAfterMs(response.headers.get('retry-after'), ctx.now());
      if (response.status === 429)
        throw fail('HackerRank is limiting our request rate (HTTP 429); will retry', true, undefined, wait);
      if (isRetryableStatus(response.status))
        throw fail(`HackerRank is unavailable (HTTP ${response.status}); will retry`, true, undefined, wait);
      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        throw fail(`HackerRank answered HTTP ${response.status} with something that is not JSON`, false);
      }
      return { status: response.status, ok: response.ok, json };
    }

    function parse<T extends z.ZodType>(schema: T, json: unknown, what: string): z.output<T> {
      const parsed = schema.safeParse(json);
      if (!parsed.success) throw fail(`HackerRank's ${what} is not in the documented shape`, false);
      return parsed.data;
    }

    /** Every item of a paginated list: pages of up to 100 until `next` is empty ("on the last page"). */
    async function listAll<T extends z.ZodType>(path: string, item: T, what: string): Promise<z.output<T>[]> {
      const items: z.output<T>[] = [];
      for (;;) {
        const answer = await call('GET', `${path}?limit=${PAGE_SIZE}&offset=${items.length}`);
        if (!answer.ok) throw fail(`HackerRank refused to list ${what} (HTTP ${answer.status})`, false);
        const current = parse(page(item), answer.json, `list of ${what}`);
        items.push(...current.data);
        const total = current.total === undefined ? Number.NaN : Number(current.total);
        if (!current.next || current.data.length === 0 || items.length >= total) return items;
      }
    }

    function arrangementOf(testId: string, candidate: TestCandidate): Arrangement {
      const link = candidate.invite_link;
      if (!link || !/^https?:\/\//.test(link)) {
        throw fail('HackerRank invited the candidate but gave no invite_link to send them', false);
      }
      return { examUrl: link, platformExamId: platformId(testId, candidate.id) };
    }

    const candidatesPath = (testId: string) => `${API}/tests/${encodeURIComponent(testId)}/candidates`;

    return {
      id: instanceId,
      callTimeoutMs: options.timeoutMs,
      accountFields: [
        {
          key: CUSTOMER_TAG_FIELD,
          name: { zh_cn: 'HackerRank 标签', en_us: 'HackerRank tag' },
          required: false,
          description: {
            zh_cn: '添加到贵司候选人邀请上的标签，便于在 HackerRank 中筛选',
            en_us: "Added to your candidates' invitations, to find them on HackerRank",
          },
        },
      ],
      async createExam(request: ExamRequest): Promise<Arrangement> {
        const testId = request.paperId;
        if (!testId)
          throw fail('the exam has no paper: HackerRank needs a test to invite the candidate to', false);
        const email = request.candidate.email;
        if (!email)
          throw fail('the candidate has no email address: HackerRank invites candidates by email', false);
        const tag = request.account?.fields[CUSTOMER_TAG_FIELD]?.trim();
        /** The invitation an earlier attempt of this exam made, found by the exam id it carries. */
        const earlierInvitation = async () =>
          (await listAll(candidatesPath(testId), testCandidate, 'candidates')).find(
            (c) => c.invite_metadata?.[EXAM_ID_METADATA_KEY] === request.examId,
          );
        // A retry may follow an invitation HackerRank made but whose answer was lost. Whether HackerRank refuses
        // a second invitation of the email is not documented: look first, rather than risk a second one.
        if (request.retry) {
          const earlier = await earlierInvitation();
          if (earlier) return arrangementOf(testId, earlier);
        }
        const invited = await call('POST', candidatesPath(testId), {
          full_name: request.candidate.name,
          email,
          send_email: options.sendEmail,
          ...(tag ? { tags: [tag] } : {}),
          // How a retried invite finds the first one again (below).
          invite_metadata: { [EXAM_ID_METADATA_KEY]: request.examId },
        });
        if (invited.ok) return arrangementOf(testId, parse(testCandidate, invited.json, 'invitation'));
        if (invited.status === 404) {
          throw fail(`HackerRank has no test ${testId} (or the API key cannot see it)`, false);
        }
        // Refused. If this exam was invited before (a retry after a lost answer or a crash), HackerRank may
        // refuse the second invitation of the same email: then the first invitation is the arrangement.
        const earlier = request.retry ? undefined : await earlierInvitation();
        if (earlier) return arrangementOf(testId, earlier);
        throw fail(`HackerRank refused the invitation (HTTP ${invited.status})`, false);
      },

      async listPapers(): Promise<Paper[]> {
        const tests = await listAll(`${API}/tests`, hackerRankTest, 'tests');
        const wanted = options.testIds ? new Set(options.testIds) : undefined;
        return (
          tests
            // A draft or archived test cannot take invitations.
            .filter((t) => !t.draft && t.state !== 'archived' && (!wanted || wanted.has(t.id)))
            .map((t) => ({
              id: t.id.slice(0, 255),
              name: t.name.slice(0, 255) || t.id,
              durationMinutes: t.duration && t.duration > 0 ? Math.round(t.duration) : undefined,
              questionCount: t.questions?.length || undefined,
            }))
        );
      },

      async fetchResult(ref: ExamRef): Promise<ExamResult | undefined> {
        const [testId, candidateId] = (ref.platformExamId ?? '').split('/');
        if (!testId || !candidateId) {
          throw fail(`exam ${ref.examId} has no HackerRank candidate to read the result from`, false);
        }
        const answer = await call('GET', `${candidatesPath(testId)}/${encodeURIComponent(candidateId)}`);
        if (!answer.ok) throw fail(`HackerRank refused to show the candidate (HTTP ${answer.status})`, false);
        const candidate = parse(testCandidate, answer.json, 'candidate');
        // Only status 7 means the report exists; HackerRank may fill the score a little later still.
        if (candidate.status !== REPORT_READY || typeof candidate.score !== 'number') return undefined;
        const finished = candidate.attempt_endtime ? Date.parse(candidate.attempt_endtime) : Number.NaN;
        const answerTime = Number.isFinite(finished) ? finished : undefined;
        const reports = [
          candidate.report_url && { name: 'HackerRank report', url: candidate.report_url, answerTime },
          candidate.pdf_url && { name: 'HackerRank report (PDF)', url: candidate.pdf_url, answerTime },
        ].filter((r): r is { name: string; url: string; answerTime: number | undefined } => Boolean(r));
        return {
          score: scoreText(candidate.score),
          resultTime: answerTime,
          reports,
          details:
            typeof candidate.percentage_score === 'number'
              ? [{ name: 'Percentage score', result: `${scoreText(candidate.percentage_score)}%` }]
              : undefined,
        };
      },
    };
  },
});

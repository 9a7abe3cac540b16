// The outbox jobs of the exam workflow: each makes one outbound call and returns the state change to commit
// with the job's completion. Each is safe to run again: a crash between the call and the commit repeats it.
import { createHash } from 'node:crypto';
import {
  type AccountField,
  type BoundAccount,
  isProviderError,
  type Paper,
  type ProviderRegistry,
} from '@feishu-exam/exam-providers';
import { stuckJobCard } from '../bot/cards.js';
import {
  CHAT_RATE_LIMITED,
  ChatPace,
  GROUP_MESSAGES_PER_SECOND,
  PACED_FOR_MS,
  SLOT_MS,
} from '../feishu/chat-pace.js';
import { callOpenApi, type FeishuClients, OpenApiError } from '../feishu/clients.js';
import { type Logger, maskCandidateIn, scrubText } from '../log.js';
import { Deferral } from '../outbox/failure.js';
import type { JobKind } from '../outbox/jobs.js';
import type { JobHandler } from '../outbox/worker.js';
import {
  AccountEntity,
  type AccountRow,
  ExamEntity,
  type ExamRow,
  JobEntity,
  type Store,
} from '../store/index.js';
import type { ExamCards } from './exam-card.js';
import { cardPatchable, examLifecycle, keyOf } from './exam-lifecycle.js';
import { tenancy } from './tenants.js';

export interface WorkflowDeps {
  readonly store: Store;
  readonly clients: FeishuClients;
  readonly providers: ProviderRegistry;
  readonly approvalChatId: string;
  /** The exams' approval cards (exam-card.ts), the same the card callbacks answer with. */
  readonly cards: ExamCards;
  /** Told when an exam's approval card is posted (the event → card latency in /metrics). */
  readonly onCardPosted?: (exam: ExamRow) => void;
  /** The clock a card's age is read by (default Date.now; tests move it). */
  readonly now?: () => number;
}

/** Vendor failure codes in login_info's `result` (0 is success). */
export const LOGIN_INFO_RESULT = { success: 0, rejectedByStaff: 1, platformFailed: 2 } as const;

class RetryLater extends Error {
  readonly retryable = true;
}

const permanent = (message: string) => Object.assign(new Error(message), { retryable: false });

const boundAccount = (a: AccountRow): BoundAccount => ({
  accountId: a.accountId,
  name: a.name ?? undefined,
  fields: a.customFields,
});

/**
 * A provider's paper as Feishu's eco_exam_paper takes it: times as millisecond strings, `duration` and
 * `question_count` as ints (the docs' type; a provider may report 22.5 minutes, which Feishu would refuse).
 */
const feishuPaper = (p: Paper) => ({
  id: p.id,
  name: p.name,
  ...(p.durationMinutes === undefined ? {} : { duration: Math.round(p.durationMinutes) }),
  ...(p.questionCount === undefined ? {} : { question_count: Math.round(p.questionCount) }),
  ...(p.startTime === undefined ? {} : { start_time: String(p.startTime) }),
  ...(p.endTime === undefined ? {} : { end_time: String(p.endTime) }),
});

/** Feishu's i18n text object: only `zh_cn` and `en_us`, each when it is a non-empty string. */
const feishuI18n = (text: { readonly zh_cn?: unknown; readonly en_us?: unknown }) => ({
  ...(typeof text.zh_cn === 'string' && text.zh_cn ? { zh_cn: text.zh_cn } : {}),
  ...(typeof text.en_us === 'string' && text.en_us ? { en_us: text.en_us } : {}),
});

/**
 * A provider's account field as eco_account_custom_field takes it. `is_required` is a required boolean there:
 * a provider package written in plain JavaScript may leave `required` out, and without it Feishu refuses the
 * whole list, so every field of every provider would go unregistered.
 */
const feishuAccountField = (f: AccountField) => ({
  key: f.key,
  name: feishuI18n(f.name ?? {}),
  is_required: f.required === true,
  ...(f.description ? { description: feishuI18n(f.description) } : {}),
});

/**
 * update_result's 1002855 用户已完成阅卷: "若客户已在飞书招聘内完成阅卷，则无法再调用该接口更新笔试结果" (the
 * customer graded the exam in Hire; its result can no longer be updated there).
 */
const ALREADY_GRADED = 1002855;

/**
 * Feishu's message `uuid` (idempotency key) is at most 50 characters. It is derived from a hash of the id, not
 * a prefix of it: two long ids sharing their first characters must not share a card.
 *
 * Feishu dedupes a uuid for an hour only (在 1 小时内至多成功发送一条消息). A post repeated later (the gateway died
 * between Feishu's answer and the commit, and stayed down over an hour) posts the card a second time: accepted,
 * since not posting could leave an exam with no card at all. Clicks on the first card are then refused as not
 * the exam's card, and the second one decides.
 */
export const messageUuid = (prefix: string, id: string) =>
  `${prefix}-${createHash('sha256').update(id).digest('base64url').slice(0, 43)}`;

/**
 * The SDK fills `path` parameters into the URL as they are (no encoding), so an id that is not percent-encoded
 * could point a call at another API. Ids are validated at the door too; this holds whatever is stored.
 */
const pathSegment = (id: string) => encodeURIComponent(id);

export function workflowJobs(deps: WorkflowDeps): Record<JobKind, JobHandler> {
  const { store, clients } = deps;
  const clock = deps.now ?? Date.now;
  /** The job's exam: its tenant and id (jobs queued before exams were keyed by tenant carry only the id). */
  const loadExam = async (job: {
    examId: string | null;
    tenantKey: string | null;
    exam?: ExamRow | null;
  }): Promise<ExamRow> => {
    const { examId, tenantKey } = job;
    // Read with the claim (claimDueJobs), unless the job names its exam by id alone.
    const exam =
      job.exam !== undefined
        ? job.exam
        : examId
          ? await store.findOneBy(ExamEntity, tenantKey === null ? { examId } : { tenantKey, examId })
          : null;
    if (!exam) throw Object.assign(new Error(`exam ${examId} does not exist`), { retryable: false });
    return exam;
  };

  /** How fast cards go into the staff chat once Feishu refuses one for its limit: one pace for every replica. */
  const staffChatPace = new ChatPace(store, deps.approvalChatId);
  /**
   * Staff cards go to the staff chat with the staff tenant's token, whichever customer they are about. While
   * Feishu paces the chat (feishu/chat-pace.ts), the job waits for its slot first: a Deferral, before the card is
   * drawn (drawing may ask Feishu for a customer's name).
   */
  const postCard = async (
    job: { id: string },
    log: Logger,
    uuid: string,
    draw: () => Record<string, unknown> | Promise<Record<string, unknown>>,
  ) => {
    const now = clock();
    const slot = await staffChatPace.slotFor(job.id, now);
    if (slot > now)
      throw new Deferral(
        slot,
        `the staff chat is paced after Feishu refused a card for its limit: sent in ${slot - now} ms`,
      );
    const card = await draw();
    const staff = clients.forStaff();
    const { client, options } = staff;
    let data: { message_id?: string } | undefined;
    try {
      data = await callOpenApi<{ message_id?: string }>(staff, 'im.v1.message.create', () =>
        client.im.v1.message.create(
          {
            params: { receive_id_type: 'chat_id' },
            data: {
              receive_id: deps.approvalChatId,
              msg_type: 'interactive',
              content: JSON.stringify(card),
              uuid,
            },
          },
          options,
        ),
      );
    } catch (err) {
      if (!(err instanceof OpenApiError && err.code === CHAT_RATE_LIMITED)) throw err;
      const refusedAt = clock();
      if (await staffChatPace.refused(refusedAt, err.retryAfterMs))
        log.warn(
          { groupLimitPerSecond: GROUP_MESSAGES_PER_SECOND, perSecond: 1000 / SLOT_MS, forMs: PACED_FOR_MS },
          "Feishu refused a card for the staff chat's limit: cards now go into it one slot at a time",
        );
      // The card itself was not at fault: Feishu counted it against the chat's second. It takes the next free
      // slot, as a card that waited for one does, instead of going through the backoff: there it spent an
      // attempt, waited a backoff that grows with each refusal, and only then queued for a slot behind the cards
      // that came after it.
      throw new Deferral(
        await staffChatPace.slotFor(job.id, refusedAt),
        `Feishu refused the card for the staff chat's limit (${CHAT_RATE_LIMITED}): sent again at its slot`,
      );
    }
    if (!data?.message_id) throw new RetryLater('im.v1.message.create answered without a message_id');
    return data.message_id;
  };

  /** The customer's company name (tenant.v2.tenant.query, with that customer's token). */
  const fetchTenantName = async (tenantKey: string) => {
    const customer = clients.forTenant(tenantKey);
    const data = await callOpenApi<{ tenant?: { name?: string } }>(customer, 'tenant.v2.tenant.query', () =>
      customer.client.tenant.v2.tenant.query({}, customer.options),
    );
    const name = data?.tenant?.name;
    if (!name) throw new RetryLater('tenant.v2.tenant.query answered without a name');
    await store.write((tx) => tenancy.nameFetched(tx, tenantKey, name, Date.now()));
    return name;
  };

  const { cards } = deps;
  const { routeWithAccount } = cards;
  /** The exam's card as it stands (exam-card.ts); the first card of a new customer learns its name first. */
  const approvalCardFor = (exam: ExamRow, log?: { warn(o: object, m: string): void }) =>
    cards.approvalCardFor(exam, Date.now(), (tenantKey) =>
      // Learn the name now rather than post a card staff cannot place.
      fetchTenantName(tenantKey).catch((err: unknown) => {
        log?.warn({ tenantKey, error: (err as Error).message }, 'customer name not known yet');
        return null;
      }),
    );

  return {
    async post_card(job, log) {
      const exam = await loadExam(job);
      if (exam.cardMessageId) return undefined;
      const messageId = await postCard(
        job,
        log,
        // Marketplace: two customers' exams may share an id; their cards must not share a uuid.
        messageUuid('exam', clients.marketplace ? `${exam.tenantKey}/${exam.examId}` : exam.examId),
        () => approvalCardFor(exam, log),
      );
      deps.onCardPosted?.(exam);
      return (tx, now) => examLifecycle.cardPosted(tx, keyOf(exam), messageId, now);
    },

    async arrange(job, log) {
      const exam = await loadExam(job);
      if (exam.state !== 'arranging' || exam.arrangement) return undefined;
      const { route, account } = await routeWithAccount(exam);
      if (!route.ok) {
        log.warn({ reason: route.reason }, 'no exam platform for this exam');
        return async (tx, now) => {
          await examLifecycle.arrangementFailed(tx, keyOf(exam), route.reason, now);
        };
      }
      const provider = route.provider;
      try {
        const arrangement = await provider.createExam({
          examId: exam.examId,
          paperId: exam.paperId ?? undefined,
          accountId: exam.accountId ?? undefined,
          account: account ? boundAccount(account) : undefined,
          candidate: {
            name: exam.candidate.name,
            email: exam.candidate.email,
            mobile: { code: exam.candidate.mobileCode, number: exam.candidate.mobileNumber },
          },
          // Claimed before (a failure, a crash, a shutdown): an earlier attempt may have reached the platform.
          retry: job.attempts > 1,
        });
        log.info(
          { provider: provider.id, via: route.via, platformExamId: arrangement.platformExamId },
          'exam arranged on the platform',
        );
        return (tx, now) => examLifecycle.arrangementMade(tx, keyOf(exam), provider.id, arrangement, now);
      } catch (err) {
        // The platform's message may repeat the candidate it was given; it is logged and kept on the job.
        if (err instanceof Error) {
          try {
            err.message = maskCandidateIn(err.message, exam.candidate);
            if (err.stack) err.stack = maskCandidateIn(err.stack, exam.candidate);
          } catch {
            // A read-only message (a getter, a frozen error): the log's net still masks what it can.
          }
        }
        if (isProviderError(err) && !err.retryable) {
          log.warn(
            { provider: err.providerId, reason: err.message },
            'the exam platform refused the arrangement',
          );
          return async (tx, now) => {
            // Kept, shown on the card and sent to the customer's Hire (login_info's msg): with no secret of
            // this process in it (a platform's refusal may repeat the API key it was given).
            await examLifecycle.arrangementFailed(tx, keyOf(exam), scrubText(err.message), now);
          };
        }
        throw err;
      }
    },

    async report_login_info(job) {
      const exam = await loadExam(job);
      if (exam.loginInfoReportedAt !== null) return undefined;
      let data: {
        result: number;
        msg: string;
        exam_login_info: { exam_url: string; username?: string; password?: string };
      };
      if (exam.state === 'arranging' && exam.arrangement) {
        const { examUrl, username, password } = exam.arrangement;
        data = {
          result: LOGIN_INFO_RESULT.success,
          msg: 'success',
          exam_login_info: { exam_url: examUrl, username, password },
        };
      } else if (exam.state === 'rejected') {
        // The SDK's types make exam_login_info required even for a failure: an empty URL says "none".
        data = {
          result: LOGIN_INFO_RESULT.rejectedByStaff,
          msg: `Rejected: ${exam.rejectReason ?? ''}`.slice(0, 500),
          exam_login_info: { exam_url: '' },
        };
      } else if (exam.state === 'failed') {
        data = {
          result: LOGIN_INFO_RESULT.platformFailed,
          msg: `Arrangement failed: ${exam.failureReason ?? ''}`.slice(0, 500),
          exam_login_info: { exam_url: '' },
        };
      } else {
        throw Object.assign(new Error(`exam ${exam.examId} is ${exam.state}: nothing to report`), {
          retryable: false,
        });
      }
      const customer = clients.forTenant(exam.tenantKey);
      const { client, options } = customer;
      await callOpenApi(customer, 'hire.v1.ecoExam.loginInfo', () =>
        client.hire.v1.ecoExam.loginInfo({ path: { exam_id: pathSegment(exam.examId) }, data }, options),
      );
      return (tx, now) => examLifecycle.loginInfoReported(tx, keyOf(exam), now);
    },

    async refresh_card(job, log) {
      const exam = await loadExam(job);
      const cardMessageId = exam.cardMessageId;
      if (!cardMessageId) throw new RetryLater('the approval card has not been posted yet');
      const patchable = cardPatchable(exam, clock());
      if (!patchable && job.payload.because === 'tenant_state') {
        log.info({ examId: exam.examId }, "card too old to update: the customer's new state is not shown");
        return undefined;
      }
      // Drawn only for a card that will be sent (drawing may ask Feishu for a new customer's name).
      const card = await approvalCardFor(exam);
      if (!patchable) {
        // Feishu would refuse the patch (a message is patched only within 14 days of sending it): a result
        // that comes weeks after the exam arrived is shown on a new card, which stands for the exam from now
        // on. The uuid is the job's, so a retry of this job cannot post the card twice.
        const messageId = await postCard(job, log, messageUuid('anew', job.id), () => card);
        log.info({ examId: exam.examId, replaced: cardMessageId }, 'card too old to update: posted anew');
        return (tx, at) => examLifecycle.cardReplaced(tx, keyOf(exam), cardMessageId, messageId, at);
      }
      const staff = clients.forStaff();
      const { client, options } = staff;
      const content = JSON.stringify(card);
      await callOpenApi(staff, 'im.v1.message.patch', () =>
        client.im.v1.message.patch(
          { path: { message_id: pathSegment(cardMessageId) }, data: { content } },
          options,
        ),
      );
      return undefined;
    },

    /** Publishes the account's papers (full replace), then deletes the ones that vanished since last time. */
    async sync_papers(job, log) {
      const accountId = String(job.payload.accountId ?? '');
      // Jobs queued before accounts were keyed by tenant carry only the account id.
      const tenantKey = typeof job.payload.tenantKey === 'string' ? job.payload.tenantKey : undefined;
      const account = await store.findOneBy(
        AccountEntity,
        tenantKey === undefined ? { accountId } : { tenantKey, accountId },
      );
      if (!account) throw permanent(`account ${accountId} is not bound`);
      const provider = deps.providers.get(account.providerId);
      if (!provider)
        throw permanent(
          `account ${accountId} is bound to provider ${account.providerId}, which is not configured`,
        );
      if (!provider.listPapers) return undefined;
      const papers = await provider.listPapers(boundAccount(account));
      const customer = clients.forTenant(account.tenantKey);
      const { client, options } = customer;
      // A list created for an account Hire has as 未激活 or 停用 makes it 正常 (创建试卷列表): a scheduled round
      // re-creating an unchanged list would undo, every round, a customer's 停用 of the account.
      const unchanged =
        job.payload.round === true &&
        account.publishedPapers !== null &&
        JSON.stringify(account.publishedPapers.map(feishuPaper)) === JSON.stringify(papers.map(feishuPaper));
      if (papers.length > 0 && !unchanged) {
        await callOpenApi(customer, 'hire.v1.ecoExamPaper.create', () =>
          client.hire.v1.ecoExamPaper.create(
            { data: { account_id: accountId, paper_list: papers.map(feishuPaper) } },
            options,
          ),
        );
      }
      const current = new Set(papers.map((p) => p.id));
      const vanished = (account.publishedPaperIds ?? []).filter((id) => !current.has(id));
      if (vanished.length > 0) {
        await callOpenApi(customer, 'hire.v1.ecoExamPaper.batchDelete', () =>
          client.hire.v1.ecoExamPaper.batchDelete(
            { data: { account_id: accountId, paper_id_list: vanished } },
            options,
          ),
        );
      }
      log.info(
        { accountId, published: unchanged ? 0 : papers.length, unchanged, deleted: vanished.length },
        'papers synced',
      );
      return async (tx, now) => {
        const named = papers.map((p) => ({
          id: p.id,
          name: p.name,
          durationMinutes: p.durationMinutes,
          questionCount: p.questionCount,
          startTime: p.startTime,
          endTime: p.endTime,
        }));
        await tx.run(
          `UPDATE accounts SET published_paper_ids = ?, published_papers = ?, updated_at = ?
           WHERE tenant_key = ? AND account_id = ?`,
          [JSON.stringify([...current]), JSON.stringify(named), now, account.tenantKey, accountId],
        );
      };
    },

    /** Asks the exam's platform for a result (providers that can be polled); records it when there is one. */
    async poll_result(job) {
      const exam = await loadExam(job);
      if (exam.state !== 'arranged' || exam.result) return undefined;
      // The provider that arranged the exam is asked, not wherever the exam would be routed today.
      const provider = exam.providerId ? deps.providers.get(exam.providerId) : undefined;
      if (!provider?.fetchResult) return undefined;
      const result = await provider.fetchResult({
        examId: exam.examId,
        platformExamId: exam.arrangement?.platformExamId,
      });
      if (!result) return undefined;
      return async (tx, now) => {
        await examLifecycle.resultReceived(tx, keyOf(exam), provider.id, result, now);
      };
    },

    /** Writes the exam's current result back to Feishu Hire (the latest one, even if a newer job follows). */
    async report_result(job, log) {
      const exam = await loadExam(job);
      const result = exam.result;
      if (!result) return undefined;
      const customer = clients.forTenant(exam.tenantKey);
      const { client, options } = customer;
      const data = {
        result: result.score,
        ...(result.resultTime === undefined ? {} : { result_time: String(result.resultTime) }),
        ...(result.reports?.length
          ? {
              report_list: result.reports.map((r) => ({
                name: r.name,
                url: r.url,
                ...(r.answerTime === undefined ? {} : { answer_time: String(r.answerTime) }),
              })),
            }
          : {}),
        ...(result.details?.length
          ? {
              detail_list: result.details.map((d) => ({
                ...(d.id ? { id: d.id } : {}),
                name: d.name,
                result: d.result,
              })),
            }
          : {}),
      };
      try {
        await callOpenApi(customer, 'hire.v1.ecoExam.updateResult', () =>
          client.hire.v1.ecoExam.updateResult({ path: { exam_id: pathSegment(exam.examId) }, data }, options),
        );
      } catch (err) {
        if (!(err instanceof OpenApiError && err.code === ALREADY_GRADED)) throw err;
        // Hire keeps its grade from now on: an answer, not a request to retry nor a stuck job for staff.
        log.warn(
          { examId: exam.examId, code: ALREADY_GRADED },
          "the customer graded this exam in Feishu Hire: the platform's later result is not shown there",
        );
        return undefined;
      }
      return (tx, now) => examLifecycle.resultReported(tx, keyOf(exam), now);
    },

    /** 账号自定义字段 for exams (scope 2), as the providers declare them. Feishu replaces the whole list. */
    async register_custom_fields(job, log) {
      const fields = (job.payload.fields ?? []) as AccountField[];
      if (fields.length === 0) return undefined;
      // Self-built: the app's own Hire. Marketplace: the customer tenant the job was queued for.
      const customer = clients.forTenant(job.tenantKey ?? '');
      const { client, options } = customer;
      await callOpenApi(customer, 'hire.v1.ecoAccountCustomField.create', () =>
        client.hire.v1.ecoAccountCustomField.create(
          {
            data: {
              scope: 2,
              custom_field_list: fields.map(feishuAccountField),
            },
          },
          options,
        ),
      );
      log.info(
        { keys: fields.map((f) => f.key), ...(job.tenantKey ? { tenantKey: job.tenantKey } : {}) },
        'account custom fields registered',
      );
      return undefined;
    },

    /** A new customer: its company name, for the cards and /admin/tenants. */
    async fetch_tenant_name(job, log) {
      const tenantKey = job.tenantKey ?? String(job.payload.tenantKey ?? '');
      const name = await fetchTenantName(tenantKey);
      log.info({ tenantKey, name }, 'customer name fetched');
      return undefined;
    },

    async notify_dead(job, log) {
      const deadId = String(job.payload.jobId ?? '');
      const dead = await store.findOneBy(JobEntity, { id: deadId });
      // Revived meanwhile (an operator's retry, the bot added back to the chat): nothing is stuck any more.
      if (dead?.state !== 'dead') return undefined;
      const exam = dead.examId
        ? await store.findOneBy(
            ExamEntity,
            dead.tenantKey === null
              ? { examId: dead.examId }
              : { tenantKey: dead.tenantKey, examId: dead.examId },
          )
        : null;
      await postCard(job, log, messageUuid('dead', `${dead.id}-${job.id}`), () => stuckJobCard(dead, exam));
      return undefined;
    },
  };
}

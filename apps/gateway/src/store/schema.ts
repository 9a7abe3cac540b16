import type { Arrangement, ExamResult } from '@feishu-exam/exam-providers';
import { EntitySchema } from 'typeorm';

export type { Arrangement, ExamResult };

/**
 * Table shapes, declared without decorators (vitest's esbuild emits no decorator metadata). Times are
 * epoch milliseconds in bigint columns, so SQLite and PostgreSQL store and compare them alike.
 */

export type ExamState = 'pending_approval' | 'arranging' | 'arranged' | 'rejected' | 'failed';

export interface Candidate {
  name?: string | undefined;
  mobileCode?: string | undefined;
  mobileNumber?: string | undefined;
  email?: string | undefined;
}

export interface ExamRow {
  examId: string;
  tenantKey: string;
  appId: string;
  eventId: string;
  accountId: string | null;
  paperId: string | null;
  talentId: string | null;
  applicationId: string | null;
  candidate: Candidate;
  state: ExamState;
  decidedBy: string | null;
  decidedAt: number | null;
  rejectReason: string | null;
  arrangement: Arrangement | null;
  failureReason: string | null;
  cardMessageId: string | null;
  /**
   * When the card named by cardMessageId was posted (null: posted before this was recorded; the exam's
   * arrival stands in). Feishu patches a message only within 14 days of sending it.
   */
  cardPostedAt: number | null;
  /**
   * The exam's first card, queued on this row (outbox/card-queue.ts): when the outbox worker may take it (the
   * exam's arrival, or the end of the lease of the worker posting it). Null once the card is posted, or handed
   * to a post_card job for its retries.
   */
  cardDueAt: number | null;
  /** The outbox worker posting the queued card (its lease ends at cardDueAt); null while none has taken it. */
  cardLockedBy: string | null;
  loginInfoReportedAt: number | null;
  result: ExamResult | null;
  resultReportedAt: number | null;
  /** The provider instance that arranged the exam: the only one whose results are accepted for it. */
  providerId: string | null;
  /** When the candidate's contact data and the exam password were erased (RETENTION_DAYS after the end). */
  personalDataErasedAt: number | null;
  receivedAt: number;
  updatedAt: number;
}

export type TenantState = 'active' | 'stopped' | 'uninstalled';

/** A Feishu tenant the app serves: a customer, or (marketplace) the vendor's own. */
export interface TenantRow {
  tenantKey: string;
  appId: string;
  state: TenantState;
  /** The company name from tenant.v2.tenant.query; null until fetched. */
  name: string | null;
  /** When the last lifecycle event (app_open, app_status_change, app_uninstalled) was sent. */
  stateChangedAt: number | null;
  firstSeenAt: number;
  updatedAt: number;
}

export interface PublishedPaper {
  readonly id: string;
  readonly name: string;
  readonly durationMinutes?: number | undefined;
  readonly questionCount?: number | undefined;
  readonly startTime?: number | undefined;
  readonly endTime?: number | undefined;
}

export interface AccountRow {
  accountId: string;
  tenantKey: string;
  appId: string;
  /** 1: background check, 2: exam. */
  scope: number | null;
  name: string | null;
  usageList: number[];
  /** The custom-field values the customer entered: their identity on the vendor's platform. */
  customFields: Record<string, string>;
  providerId: string;
  /** The paper ids last published to Feishu for this account; null before the first sync. */
  publishedPaperIds: string[] | null;
  /** The same papers with their names and durations, as the card shows them; null before the first sync. */
  publishedPapers: PublishedPaper[] | null;
  boundAt: number;
  updatedAt: number;
}

/** `skipped`: a job that allowed only so many attempts (a poll round) gave up after transient failures. */
export type JobState = 'pending' | 'running' | 'done' | 'dead' | 'skipped';

export interface JobRow {
  id: string;
  kind: string;
  examId: string | null;
  payload: Record<string, unknown>;
  /** The customer tenant the job calls Feishu for; its jobs wait while that tenant has stopped the app. */
  tenantKey: string | null;
  idempotencyKey: string;
  state: JobState;
  attempts: number;
  maxAttempts: number;
  runAt: number;
  lockedUntil: number | null;
  lockedBy: string | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

export type EventOutcome = 'accepted' | 'duplicate' | 'rejected';

export interface ProcessedEventRow {
  eventId: string;
  eventType: string;
  examId: string | null;
  outcome: EventOutcome;
  reason: string | null;
  receivedAt: number;
}

const millis = {
  type: 'bigint' as const,
  transformer: {
    to: (v: unknown) => v,
    from: (v: unknown) => (v === null || v === undefined ? v : Number(v)),
  },
};

export const ExamEntity = new EntitySchema<ExamRow>({
  name: 'Exam',
  tableName: 'exams',
  columns: {
    examId: { name: 'exam_id', type: 'varchar', length: 128, primary: true },
    tenantKey: { name: 'tenant_key', type: 'varchar', length: 128, primary: true },
    appId: { name: 'app_id', type: 'varchar', length: 128 },
    eventId: { name: 'event_id', type: 'varchar', length: 128 },
    accountId: { name: 'account_id', type: 'varchar', length: 128, nullable: true },
    paperId: { name: 'paper_id', type: 'varchar', length: 255, nullable: true },
    talentId: { name: 'talent_id', type: 'varchar', length: 128, nullable: true },
    applicationId: { name: 'application_id', type: 'varchar', length: 128, nullable: true },
    candidate: { name: 'candidate', type: 'simple-json' },
    state: { name: 'state', type: 'varchar', length: 32 },
    decidedBy: { name: 'decided_by', type: 'varchar', length: 128, nullable: true },
    decidedAt: { name: 'decided_at', ...millis, nullable: true },
    rejectReason: { name: 'reject_reason', type: 'text', nullable: true },
    arrangement: { name: 'arrangement', type: 'simple-json', nullable: true },
    failureReason: { name: 'failure_reason', type: 'text', nullable: true },
    cardMessageId: { name: 'card_message_id', type: 'varchar', length: 128, nullable: true },
    cardPostedAt: { name: 'card_posted_at', ...millis, nullable: true },
    cardDueAt: { name: 'card_due_at', ...millis, nullable: true },
    cardLockedBy: { name: 'card_locked_by', type: 'varchar', length: 64, nullable: true },
    loginInfoReportedAt: { name: 'login_info_reported_at', ...millis, nullable: true },
    result: { name: 'result', type: 'simple-json', nullable: true },
    resultReportedAt: { name: 'result_reported_at', ...millis, nullable: true },
    providerId: { name: 'provider_id', type: 'varchar', length: 128, nullable: true },
    personalDataErasedAt: { name: 'personal_data_erased_at', ...millis, nullable: true },
    receivedAt: { name: 'received_at', ...millis },
    updatedAt: { name: 'updated_at', ...millis },
  },
});

export const JobEntity = new EntitySchema<JobRow>({
  name: 'OutboxJob',
  tableName: 'outbox_jobs',
  columns: {
    id: { name: 'id', type: 'varchar', length: 64, primary: true },
    kind: { name: 'kind', type: 'varchar', length: 64 },
    examId: { name: 'exam_id', type: 'varchar', length: 128, nullable: true },
    payload: { name: 'payload', type: 'simple-json' },
    tenantKey: { name: 'tenant_key', type: 'varchar', length: 128, nullable: true },
    idempotencyKey: { name: 'idempotency_key', type: 'varchar', length: 255, unique: true },
    state: { name: 'state', type: 'varchar', length: 16 },
    attempts: { name: 'attempts', type: 'integer' },
    maxAttempts: { name: 'max_attempts', type: 'integer' },
    runAt: { name: 'run_at', ...millis },
    lockedUntil: { name: 'locked_until', ...millis, nullable: true },
    lockedBy: { name: 'locked_by', type: 'varchar', length: 64, nullable: true },
    lastError: { name: 'last_error', type: 'text', nullable: true },
    createdAt: { name: 'created_at', ...millis },
    updatedAt: { name: 'updated_at', ...millis },
  },
});

export const AccountEntity = new EntitySchema<AccountRow>({
  name: 'Account',
  tableName: 'accounts',
  columns: {
    accountId: { name: 'account_id', type: 'varchar', length: 128, primary: true },
    tenantKey: { name: 'tenant_key', type: 'varchar', length: 128, primary: true },
    appId: { name: 'app_id', type: 'varchar', length: 128 },
    scope: { name: 'scope', type: 'integer', nullable: true },
    name: { name: 'name', type: 'varchar', length: 255, nullable: true },
    usageList: { name: 'usage_list', type: 'simple-json' },
    customFields: { name: 'custom_fields', type: 'simple-json' },
    providerId: { name: 'provider_id', type: 'varchar', length: 128 },
    publishedPaperIds: { name: 'published_paper_ids', type: 'simple-json', nullable: true },
    publishedPapers: { name: 'published_papers', type: 'simple-json', nullable: true },
    boundAt: { name: 'bound_at', ...millis },
    updatedAt: { name: 'updated_at', ...millis },
  },
});

export const ProcessedEventEntity = new EntitySchema<ProcessedEventRow>({
  name: 'ProcessedEvent',
  tableName: 'processed_events',
  columns: {
    eventId: { name: 'event_id', type: 'varchar', length: 128, primary: true },
    eventType: { name: 'event_type', type: 'varchar', length: 128 },
    examId: { name: 'exam_id', type: 'varchar', length: 128, nullable: true },
    outcome: { name: 'outcome', type: 'varchar', length: 16 },
    reason: { name: 'reason', type: 'text', nullable: true },
    receivedAt: { name: 'received_at', ...millis },
  },
});

export const TenantEntity = new EntitySchema<TenantRow>({
  name: 'Tenant',
  tableName: 'tenants',
  columns: {
    tenantKey: { name: 'tenant_key', type: 'varchar', length: 128, primary: true },
    appId: { name: 'app_id', type: 'varchar', length: 128 },
    state: { name: 'state', type: 'varchar', length: 16 },
    name: { name: 'name', type: 'varchar', length: 255, nullable: true },
    stateChangedAt: { name: 'state_changed_at', ...millis, nullable: true },
    firstSeenAt: { name: 'first_seen_at', ...millis },
    updatedAt: { name: 'updated_at', ...millis },
  },
});

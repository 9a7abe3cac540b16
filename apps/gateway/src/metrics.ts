// metrics: what Prometheus scrapes at /metrics. Every metric the gateway exposes is declared here, on a
// registry of its own per gateway (tests run several gateways in one process; prom-client's global registry
// would mix them). The places that see something happen make one call each into this module.
import { isKnownEventType } from '@feishu-exam/event-core';
import { isProviderError, type ProviderRegistry } from '@feishu-exam/exam-providers';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { OpenApiError } from './feishu/clients.js';
import { classifyFailure } from './outbox/failure.js';
import type { JobHandler } from './outbox/worker.js';
import { type MethodWrap, mapProviders, wrapProvider } from './providers/wrap.js';
import { quotedList } from './store/rows.js';

/**
 * What became of one push: `accepted` (taken and acknowledged), `duplicate` (a re-push of something already
 * taken, acknowledged), `rejected` (genuinely Feishu's but unusable: recorded and acknowledged), `refused`
 * (not acknowledged, with the error code: a bad signature, a broken body, a handler that failed).
 */
export type PushOutcome = 'accepted' | 'duplicate' | 'rejected' | 'refused';

/** One row of the jobs-by-state query. */
export interface JobCount {
  readonly kind: string;
  readonly state: string;
  readonly n: number | string;
}

export interface MetricsOptions {
  /** The gateway's clock (exam `received_at` is on it). */
  readonly now?: () => number;
  /** Process metrics (CPU, memory, event loop, GC): only when /metrics is served, as they start observers. */
  readonly processMetrics?: boolean;
  /** Counts the jobs by kind and state, read on each scrape. */
  readonly countJobs?: () => Promise<readonly JobCount[]>;
  /** A scrape never waits longer than this for the job counts; they keep their last values meanwhile. */
  readonly countJobsTimeoutMs?: number;
}

export const COUNT_JOBS_TIMEOUT_MS = 1000;

/**
 * The job states the gauge reports: the live ones. `done` and `skipped` rows are history that only grows
 * (counting them would scan the whole table on every scrape); their rate is feishu_exam_job_attempts_total.
 */
export const COUNTED_JOB_STATES = ['pending', 'running', 'dead'] as const;

/**
 * The query behind feishu_exam_jobs: the (state, run_at) index finds the live rows. The exams' queued cards
 * (outbox/card-queue.ts, idx_exams_card_queue) count as post_card jobs: pending until a worker takes one,
 * running while its lease holds.
 */
export const JOB_COUNT_SQL = `SELECT kind, state, SUM(n) AS n FROM (
    SELECT kind, state, COUNT(*) AS n FROM outbox_jobs WHERE state IN (${quotedList(COUNTED_JOB_STATES)}) GROUP BY kind, state
    UNION ALL
    SELECT 'post_card' AS kind, CASE WHEN card_locked_by IS NULL THEN 'pending' ELSE 'running' END AS state, 1 AS n
    FROM exams WHERE card_due_at IS NOT NULL
  ) AS live GROUP BY kind, state`;

// Feishu waits 3 s for an acknowledgement: the buckets are fine below that.
const INGEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
// One outbound call: the Open Platform's and the exam platforms' timeouts are 15 s by default.
const CALL_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60];
// From an exam's arrival to its card in the staff chat: seconds normally, hours through an outage.
const CARD_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600];

const seconds = (sinceMs: number) => (performance.now() - sinceMs) / 1000;

/**
 * The webhook's names for pushes that carry no event: a url_verification challenge, and a push refused before
 * it was verified (what it claims to be is not worth a label).
 */
export const PUSH_WITHOUT_EVENT = ['url_verification', 'unverified'] as const;

/** An event type fit for a label: the types the gateway knows, `other` for the rest (a bounded set). */
export const eventTypeLabel = (type: string) =>
  isKnownEventType(type) || (PUSH_WITHOUT_EVENT as readonly string[]).includes(type) ? type : 'other';

/**
 * The result code of an Open Platform call as a label: Feishu's `code` (0 on success), else the HTTP status,
 * else `no_answer` (a network error or a timeout).
 */
export function openApiResultCode(error: OpenApiError | undefined): string {
  if (!error) return '0';
  if (error.code !== undefined) return String(error.code);
  return error.status === undefined ? 'no_answer' : `http_${error.status}`;
}

/** How a provider call ended, as a label. */
function providerOutcome(err: unknown): string {
  if (isProviderError(err)) {
    if (err.code === 'invalid_answer') return 'invalid_answer';
    return err.retryable ? 'error' : 'refused';
  }
  return classifyFailure(err).kind === 'permanent' ? 'refused' : 'error';
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #now: () => number;

  readonly #pushes = new Counter({
    name: 'feishu_exam_pushes_total',
    help: 'Pushes from Feishu (events and card callbacks) by event type and outcome; refused and rejected ones carry the error code',
    labelNames: ['type', 'outcome', 'code'] as const,
    registers: [this.registry],
  });
  readonly #ingest = new Histogram({
    name: 'feishu_exam_ingest_duration_seconds',
    help: 'From a push arriving to its acknowledgement (HTTP 200), by event type',
    labelNames: ['type'] as const,
    buckets: INGEST_BUCKETS,
    registers: [this.registry],
  });
  readonly #jobAttempts = new Counter({
    name: 'feishu_exam_job_attempts_total',
    help: 'Outbox job attempts by kind and outcome (succeeded, retryable_failure, permanent_failure, deferred)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #jobDuration = new Histogram({
    name: 'feishu_exam_job_duration_seconds',
    help: 'How long one outbox job attempt ran, by kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });
  readonly #jobWait = new Histogram({
    name: 'feishu_exam_job_wait_seconds',
    help: 'From a job being due to its attempt starting (how far the worker is behind), by kind',
    labelNames: ['kind'] as const,
    buckets: CARD_BUCKETS,
    registers: [this.registry],
  });
  readonly #openApiCalls = new Counter({
    name: 'feishu_exam_open_api_calls_total',
    help: 'Open Platform calls by API and result code (Feishu code, 0 on success; http_<status> or no_answer without one)',
    labelNames: ['api', 'code'] as const,
    registers: [this.registry],
  });
  readonly #openApiDuration = new Histogram({
    name: 'feishu_exam_open_api_call_duration_seconds',
    help: 'Duration of one Open Platform call (the token fetch included), by API',
    labelNames: ['api'] as const,
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });
  readonly #eventToCard = new Histogram({
    name: 'feishu_exam_event_to_card_seconds',
    help: "From an exam's arrival (received_at) to its approval card being posted in the staff chat",
    buckets: CARD_BUCKETS,
    registers: [this.registry],
  });
  readonly #providerCalls = new Counter({
    name: 'feishu_exam_provider_calls_total',
    help: 'Exam platform calls by provider, method and outcome (ok, error, refused, invalid_answer)',
    labelNames: ['provider', 'method', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #providerDuration = new Histogram({
    name: 'feishu_exam_provider_call_duration_seconds',
    help: 'Duration of one exam platform call, by provider and method',
    labelNames: ['provider', 'method'] as const,
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    this.#now = options.now ?? Date.now;
    if (options.countJobs) this.#jobsGauge(options.countJobs, options.countJobsTimeoutMs);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Every metric, in Prometheus' text format. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** A push and what became of it; acknowledged ones also give their latency since `startedMs` (performance.now). */
  push(type: string, outcome: PushOutcome, startedMs: number, code?: string): void {
    const label = eventTypeLabel(type);
    this.#pushes.inc(code === undefined ? { type: label, outcome } : { type: label, outcome, code });
    if (outcome !== 'refused') this.#ingest.observe({ type: label }, seconds(startedMs));
  }

  /** One Open Platform call (callOpenApi): its result and duration. */
  openApiCall(api: string, error: OpenApiError | undefined, startedMs: number): void {
    this.#openApiCalls.inc({ api, code: openApiResultCode(error) });
    this.#openApiDuration.observe({ api }, seconds(startedMs));
  }

  /** An approval card was posted for an exam that arrived at `receivedAt` (the gateway's clock). */
  cardPosted(receivedAt: number): void {
    this.#eventToCard.observe(Math.max(0, (this.#now() - receivedAt) / 1000));
  }

  /** The outbox handlers, each attempt counted and timed by kind and outcome. */
  observeJobs<K extends string>(handlers: Record<K, JobHandler>): Record<K, JobHandler> {
    const observed = {} as Record<K, JobHandler>;
    for (const [kind, handler] of Object.entries(handlers) as Array<[K, JobHandler]>) {
      observed[kind] = async (...args: Parameters<JobHandler>) => {
        const [job] = args;
        this.#jobWait.observe({ kind }, Math.max(0, (this.#now() - job.runAt) / 1000));
        const started = performance.now();
        try {
          const result = await handler(...args);
          this.#jobAttempt(kind, 'succeeded', started);
          return result;
        } catch (err) {
          const failure = classifyFailure(err).kind;
          this.#jobAttempt(
            kind,
            failure === 'deferred'
              ? 'deferred'
              : failure === 'permanent'
                ? 'permanent_failure'
                : 'retryable_failure',
            started,
          );
          throw err;
        }
      };
    }
    return observed;
  }

  /**
   * The exam platforms, each outbound call counted and timed by provider, method and outcome. Wrapped here,
   * in the gateway, so that packages/* stay free of prom-client; routing is the registry's own.
   */
  observeProviders(registry: ProviderRegistry): ProviderRegistry {
    return mapProviders(registry, (provider) => {
      const timed: MethodWrap =
        (method, call) =>
        async (...args) => {
          const started = performance.now();
          try {
            const value = await call(...args);
            this.#providerCall(provider.id, method, 'ok', started);
            return value;
          } catch (err) {
            this.#providerCall(provider.id, method, providerOutcome(err), started);
            throw err;
          }
        };
      // The gateway's calls out to the platform; a result webhook is the platform's call in, not counted here.
      return wrapProvider(provider, ['createExam', 'listPapers', 'cancelExam', 'fetchResult'], timed);
    });
  }

  #providerCall(provider: string, method: string, outcome: string, started: number): void {
    this.#providerCalls.inc({ provider, method, outcome });
    this.#providerDuration.observe({ provider, method }, seconds(started));
  }

  #jobAttempt(kind: string, outcome: string, started: number): void {
    this.#jobAttempts.inc({ kind, outcome });
    this.#jobDuration.observe({ kind, outcome }, seconds(started));
  }

  /**
   * feishu_exam_jobs, read when scraped. At most one query runs at a time, and a scrape waits for it only so
   * long: a locked or frozen database never makes a scrape hang.
   */
  #jobsGauge(countJobs: () => Promise<readonly JobCount[]>, timeoutMs = COUNT_JOBS_TIMEOUT_MS): void {
    // A series that once had jobs reports 0 when they are gone, rather than vanishing from the dashboard.
    const seen = new Set<string>();
    let inFlight: Promise<readonly JobCount[]> | undefined;
    let collecting: Promise<void> = Promise.resolve();
    const refresh = async (gauge: Gauge<'kind' | 'state'>) => {
      inFlight ??= countJobs().finally(() => {
        inFlight = undefined;
      });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<undefined>((done) => {
        timer = setTimeout(() => done(undefined), timeoutMs);
      });
      const rows = await Promise.race([inFlight.catch(() => undefined), deadline]).finally(() =>
        clearTimeout(timer),
      );
      if (!rows) {
        failures.inc();
        return;
      }
      const counts = new Map<string, number>();
      for (const row of rows) counts.set(`${row.kind}\n${row.state}`, Number(row.n));
      for (const key of counts.keys()) seen.add(key);
      for (const key of seen) {
        const [kind = '', state = ''] = key.split('\n');
        gauge.set({ kind, state }, counts.get(key) ?? 0);
      }
    };
    new Gauge({
      name: 'feishu_exam_jobs',
      help: `Outbox jobs by kind and state (${COUNTED_JOB_STATES.join(', ')}), counted when scraped`,
      labelNames: ['kind', 'state'] as const,
      registers: [this.registry],
      collect() {
        collecting = refresh(this);
        return collecting;
      },
    });
    // Registered after the gauge, and read once the gauge's collection is over: a scrape reports its own failure.
    const failures = new Counter({
      name: 'feishu_exam_job_count_failures_total',
      help: 'Scrapes whose jobs-by-state query failed or ran out of time (feishu_exam_jobs kept its last values)',
      registers: [this.registry],
      collect: () => collecting,
    });
  }
}

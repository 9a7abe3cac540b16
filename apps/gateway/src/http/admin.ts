import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { listJobs, reviveDeadJobs, reviveJob } from '../outbox/jobs.js';
import {
  AccountEntity,
  type EventOutcome,
  ExamEntity,
  type JobState,
  ProcessedEventEntity,
  type Store,
} from '../store/index.js';
import { queuePaperSync } from '../workflow/accounts.js';
import { tenancy } from '../workflow/tenants.js';
import { ExamQuerySchema, listExams } from './admin-exams.js';
import { mountAdminUi } from './admin-ui.js';
import { bearerMatches } from './bearer.js';

export interface AdminDeps {
  readonly store: Store;
  readonly adminToken: string | undefined;
  readonly now: () => number;
  readonly onRetry: () => void;
  /** marketplace: the vendor's own tenant, marked as staff in /admin/tenants. */
  readonly staffTenantKey?: string | undefined;
}

const JOB_STATES = new Set<JobState>(['pending', 'running', 'done', 'dead', 'skipped']);
const EVENT_OUTCOMES = new Set<EventOutcome>(['accepted', 'duplicate', 'rejected']);

/** `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. Without ADMIN_TOKEN, /admin is off. */
function guard(adminToken: string | undefined) {
  return async (ctx: Context, next: Next) => {
    if (!adminToken) {
      ctx.status = 404;
      ctx.body = { code: 'admin_disabled', message: 'set ADMIN_TOKEN to enable the admin endpoints' };
      return;
    }
    if (!bearerMatches(ctx.get('authorization'), adminToken)) {
      ctx.status = 401;
      ctx.set('www-authenticate', 'Bearer');
      ctx.body = { code: 'unauthorized', message: 'send Authorization: Bearer <ADMIN_TOKEN>' };
      return;
    }
    await next();
  };
}

/** Operators' endpoints: stuck jobs and their retry (one or every dead one), rejected events, one exam's state. */
export function mountAdmin(router: Router, deps: AdminDeps): void {
  const auth = guard(deps.adminToken);
  router.get('/admin/jobs', auth, async (ctx) => {
    const state = ctx.query.state as JobState | undefined;
    if (state !== undefined && !JOB_STATES.has(state)) {
      ctx.status = 400;
      ctx.body = { code: 'bad_state', message: `state must be one of ${[...JOB_STATES].join(', ')}` };
      return;
    }
    const [jobs, counts] = await deps.store.write(
      async (tx) =>
        [
          await listJobs(tx, state),
          await tx.all<{ state: JobState; n: number }>(
            'SELECT state, COUNT(*) AS n FROM outbox_jobs GROUP BY state',
          ),
        ] as const,
    );
    ctx.body = { jobs, counts: Object.fromEntries(counts.map((c) => [c.state, Number(c.n)])) };
  });
  // Every dead job at once, after the cause is fixed. `state=dead` is required so that the call says what it
  // revives (and leaves room for other states without changing what this one does).
  router.post('/admin/jobs/retry', auth, async (ctx) => {
    if (ctx.query.state !== 'dead') {
      ctx.status = 400;
      ctx.body = {
        code: 'bad_state',
        message: 'only dead jobs can be retried: POST /admin/jobs/retry?state=dead',
      };
      return;
    }
    const revived = await deps.store.write((tx) => reviveDeadJobs(tx, deps.now()));
    if (revived > 0) deps.onRetry();
    ctx.body = { code: 0, msg: 'queued', revived };
  });
  router.post('/admin/jobs/:id/retry', auth, async (ctx) => {
    const revived = await deps.store.write((tx) => reviveJob(tx, ctx.params.id as string, deps.now()));
    if (!revived) {
      ctx.status = 409;
      ctx.body = { code: 'not_dead', message: 'no dead job with that id' };
      return;
    }
    deps.onRetry();
    ctx.body = { code: 0, msg: 'queued' };
  });
  router.get('/admin/events', auth, async (ctx) => {
    const outcome = ctx.query.outcome as EventOutcome | undefined;
    if (outcome !== undefined && !EVENT_OUTCOMES.has(outcome)) {
      ctx.status = 400;
      ctx.body = {
        code: 'bad_outcome',
        message: `outcome must be one of ${[...EVENT_OUTCOMES].join(', ')}`,
      };
      return;
    }
    const events = await deps.store.dataSource.getRepository(ProcessedEventEntity).find({
      where: outcome ? { outcome } : {},
      order: { receivedAt: 'DESC' },
      take: 200,
    });
    ctx.body = { events };
  });
  router.get('/admin/tenants', auth, async (ctx) => {
    ctx.body = { tenants: await deps.store.write((tx) => tenancy.list(tx, deps.staffTenantKey, deps.now())) };
  });
  router.post('/admin/accounts/:accountId/sync-papers', auth, async (ctx) => {
    const accountId = ctx.params.accountId as string;
    // An account id is unique inside one customer's Hire: `?tenant_key=` picks the customer when two share it.
    const tenantKey = typeof ctx.query.tenant_key === 'string' ? ctx.query.tenant_key : undefined;
    const queued = await deps.store.write(async (tx) => {
      const accounts = await tx.manager
        .getRepository(AccountEntity)
        .findBy(tenantKey === undefined ? { accountId } : { accountId, tenantKey });
      if (accounts.length !== 1) return accounts.length;
      const now = deps.now();
      await queuePaperSync(
        tx,
        (accounts[0] as { tenantKey: string }).tenantKey,
        accountId,
        `operator:${now}`,
        now,
      );
      return 1;
    });
    if (queued !== 1) {
      ctx.status = queued === 0 ? 404 : 409;
      ctx.body =
        queued === 0
          ? { code: 'not_found', message: 'no bound account with that id' }
          : {
              code: 'ambiguous',
              message: 'several customers bound an account with that id: add ?tenant_key=',
            };
      return;
    }
    deps.onRetry();
    ctx.body = { code: 0, msg: 'paper sync queued' };
  });
  // Exams newest first, by state, tenant and id, a page at a time: `next_cursor` fetches the next page. A filtered
  // page looks through SEARCH_WINDOW exams at most: `searched_back_to` says where it stopped, and a page with
  // fewer exams than `limit` (or none) but a `next_cursor` is not the last.
  router.get('/admin/exams', auth, async (ctx) => {
    const query = ExamQuerySchema.safeParse(ctx.query);
    if (!query.success) {
      ctx.status = 400;
      ctx.body = {
        code: 'bad_query',
        message: query.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      };
      return;
    }
    const listed = await deps.store.write((tx) => listExams(tx, query.data, deps.now()));
    if (!listed.ok) {
      ctx.status = 400;
      ctx.body = { code: listed.code, message: listed.message };
      return;
    }
    ctx.body = {
      exams: listed.page.exams,
      next_cursor: listed.page.nextCursor,
      searched_back_to:
        listed.page.searchedBackTo === null ? null : new Date(listed.page.searchedBackTo).toISOString(),
      counts: listed.page.counts,
      final_counts_since: new Date(listed.page.finalCountsSince).toISOString(),
    };
  });
  mountAdminUi(router, deps);
  router.get('/admin/exams/:examId', auth, async (ctx) => {
    const exam = await deps.store.dataSource
      .getRepository(ExamEntity)
      // `?tenant_key=` picks the customer when several have an exam with this id (marketplace).
      .findOneBy(
        typeof ctx.query.tenant_key === 'string'
          ? { examId: ctx.params.examId as string, tenantKey: ctx.query.tenant_key }
          : { examId: ctx.params.examId as string },
      );
    if (!exam) {
      ctx.status = 404;
      ctx.body = { code: 'not_found', message: 'no such exam' };
      return;
    }
    const { candidate: _pii, arrangement, ...rest } = exam;
    ctx.body = { exam: { ...rest, arrangement: arrangement ? { examUrl: arrangement.examUrl } : null } };
  });
}

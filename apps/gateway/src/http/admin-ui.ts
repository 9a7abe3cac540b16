// The operators' admin page: read-only HTML rendered here (no build step), behind ADMIN_TOKEN. A browser
// signs in once with the token (POST /admin/ui/login) and gets a session cookie (HttpOnly, SameSite=Strict,
// eight hours, derived from the token so rotating ADMIN_TOKEN ends every session; signing out ends it for every
// copy: admin-session.ts); a script may send the token as a Bearer header instead. The only action is retrying a dead job.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { reviveJob } from '../outbox/jobs.js';
import { countExams, FINAL_COUNT_DAYS } from '../workflow/exam-counts.js';
import { type TenantSummary, tenancy } from '../workflow/tenants.js';
import type { AdminDeps } from './admin.js';
import {
  type AccountSummary,
  EXAM_STATES,
  type ExamPage,
  ExamQuerySchema,
  type JobSummary,
  jobsNeedingAttention,
  listAccounts,
  listExams,
  SEARCH_WINDOW,
} from './admin-exams.js';
import { adminSessions, SESSION_COOKIE, SESSION_MS, sessionCookie, signedSession } from './admin-session.js';
import { bearerMatches } from './bearer.js';
import { type Html, html } from './html.js';
import { readRawBody } from './raw-body.js';

const MAX_FORM_BYTES = 4096;

const sameSecret = (a: string, b: string) =>
  timingSafeEqual(
    createHmac('sha256', 'compare').update(a).digest(),
    createHmac('sha256', 'compare').update(b).digest(),
  );

/** Signed in: a Bearer token, or a session cookie this gateway issued less than eight hours ago, not signed out. */
async function signedIn(ctx: Context, deps: AdminDeps, adminToken: string): Promise<boolean> {
  const authorization = ctx.get('authorization');
  if (authorization !== '') return bearerMatches(authorization, adminToken);
  const session = signedSession(ctx.cookies.get(SESSION_COOKIE), adminToken, deps.now());
  return session !== undefined && !(await adminSessions.signedOut(deps.store, session));
}

/** A form post comes from this page: SameSite=Strict already keeps the cookie off other sites' requests. */
function sameOrigin(ctx: Context): boolean {
  // Koa 3's ctx.origin is the Origin header itself: compare with where this request was addressed.
  const origin = ctx.get('origin');
  return origin === '' || origin === `${ctx.protocol}://${ctx.host}`;
}

/** The sign-in form; too large or cut short is said as such (413, 400), never as a wrong token. */
async function readForm(
  ctx: Context,
): Promise<{ ok: true; form: URLSearchParams } | { ok: false; status: 413 | 400; message: string }> {
  const raw = await readRawBody(ctx.req, MAX_FORM_BYTES);
  if (raw.ok) return { ok: true, form: new URLSearchParams(raw.body.toString('utf8')) };
  return raw.reason === 'too_large'
    ? { ok: false, status: 413, message: `The form is too large (the limit is ${MAX_FORM_BYTES} bytes).` }
    : { ok: false, status: 400, message: 'The form did not arrive whole.' };
}

function page(ctx: Context, status: number, title: string, body: Html) {
  const nonce = randomBytes(16).toString('base64');
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set({
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    'x-content-type-options': 'nosniff',
    // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the page's own form posts.
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
  });
  ctx.body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style nonce="${nonce}">
body{font:14px system-ui,sans-serif;margin:0 16px 32px;color:#1f2329}
h1{font-size:18px}h2{font-size:15px;margin-top:28px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e5e6eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f7f8fa}code{font-size:12px}.muted{color:#8f959e}.err{color:#d83931}
nav a{margin-right:12px}form.inline{display:inline}input,select,button{font:inherit}
.state{padding:1px 6px;border-radius:4px;background:#eef3ff}
</style></head><body>${body}</body></html>`.text;
}

const loginPage = (ctx: Context, status: number, problem?: string) =>
  page(
    ctx,
    status,
    'Sign in: feishu-exam admin',
    html`<h1>feishu-exam admin</h1>
${problem ? html`<p class="err">${problem}</p>` : ''}
<form method="post" action="/admin/ui/login">
<label>Admin token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>`,
  );

const iso = (ms: number | null) =>
  ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
export function age(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} h`;
  return `${Math.floor(minutes / 1440)} d`;
}

function examsSection(ctx: Context, result: ExamPage, filters: Record<string, string>): Html {
  const link = (params: Record<string, string>) =>
    `/admin/ui?${new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '')).toString()}`;
  return html`<h2 id="exams">Exams</h2>
<nav>${EXAM_STATES.map((s) => html`<a href="${link({ state: s })}">${s} (${result.counts[s]})</a>`)}<a href="/admin/ui">all</a></nav>
<p class="muted">Counts: every exam still open; arranged, rejected and failed ones that arrived in the last ${FINAL_COUNT_DAYS} days.</p>
<form method="get" action="/admin/ui"><p>
<label>State <select name="state"><option value="">any</option>${EXAM_STATES.map(
    (s) => html`<option value="${s}"${s === filters.state ? html` selected` : ''}>${s}</option>`,
  )}</select></label>
<label>Tenant <input name="tenant" value="${filters.tenant ?? ''}"></label>
<label>Id contains <input name="q" value="${filters.q ?? ''}"></label>
<button type="submit">Filter</button></p></form>
<table><thead><tr><th>Exam</th><th>State</th><th>Candidate</th><th>Tenant</th><th>Account</th><th>Paper</th><th>Platform</th><th>Age</th><th>Decided</th></tr></thead><tbody>
${result.exams.map(
  (
    e,
  ) => html`<tr><td><code>${e.examId}</code></td><td><span class="state">${e.state}</span></td><td>${e.candidateName ?? html`<span class="muted">erased or none</span>`}</td>
<td>${e.tenantName ?? ''} <code>${e.tenantKey}</code></td><td>${e.accountName ?? ''} <code>${e.accountId ?? ''}</code></td><td><code>${e.paperId ?? ''}</code></td><td>${e.providerId ?? ''}</td>
<td title="${iso(e.receivedAt)}">${age(e.ageMs)}</td><td>${e.decidedBy ?? ''} ${iso(e.decidedAt)}</td></tr>`,
)}
</tbody></table>
${result.exams.length === 0 && result.searchedBackTo === null ? html`<p class="muted">No exam matches.</p>` : ''}
${result.searchedBackTo !== null ? html`<p class="muted">Searched the exams received since ${iso(result.searchedBackTo)} (${SEARCH_WINDOW} at a time).</p>` : ''}
${result.nextCursor ? html`<p><a href="${link({ ...filters, cursor: result.nextCursor })}">${result.searchedBackTo !== null ? 'Search older exams' : 'Next page'}</a></p>` : ''}
${ctx.query.cursor ? html`<p><a href="${link({ ...filters, cursor: '' })}">First page</a></p>` : ''}`;
}

const jobsSection = (jobs: JobSummary[], now: number) => html`<h2 id="jobs">Jobs that need a person</h2>
<p class="muted">Dead jobs (refused for good: retry once the cause is fixed) and pending jobs overdue by more than a minute.</p>
<table><thead><tr><th>Job</th><th>Step</th><th>Exam</th><th>State</th><th>Attempts</th><th>Waiting</th><th>Last error</th><th></th></tr></thead><tbody>
${jobs.map(
  (
    j,
  ) => html`<tr><td><code>${j.id}</code></td><td>${j.kind}</td><td><code>${j.examId ?? ''}</code></td><td>${j.state}</td><td>${j.attempts}</td>
<td>${age(now - j.createdAt)}</td><td class="err">${(j.lastError ?? '').slice(0, 300)}</td>
<td>${j.state === 'dead' ? html`<form class="inline" method="post" action="/admin/ui/jobs/${encodeURIComponent(j.id)}/retry"><button type="submit">Retry</button></form>` : ''}</td></tr>`,
)}
</tbody></table>${jobs.length === 0 ? html`<p class="muted">None.</p>` : ''}`;

const accountsSection = (accounts: AccountSummary[]) => html`<h2 id="accounts">Accounts</h2>
<table><thead><tr><th>Account</th><th>Name</th><th>Tenant</th><th>Platform</th><th>Papers published</th><th>Bound</th></tr></thead><tbody>
${accounts.map(
  (
    a,
  ) => html`<tr><td><code>${a.accountId}</code></td><td>${a.name ?? ''}</td><td><code>${a.tenantKey}</code></td><td>${a.providerId}</td>
<td>${a.paperIds === null ? html`<span class="muted">not synced yet</span>` : a.paperIds.map((p, i) => html`${i ? ', ' : ''}<code>${p}</code>`)}</td><td>${iso(a.boundAt)}</td></tr>`,
)}
</tbody></table>${accounts.length === 0 ? html`<p class="muted">None bound.</p>` : ''}`;

const tenantsSection = (tenants: readonly TenantSummary[]) => html`<h2 id="tenants">Tenants</h2>
<table><thead><tr><th>Tenant</th><th>Name</th><th>Kind</th><th>State</th><th>Since</th><th>Exams (ended: last ${FINAL_COUNT_DAYS} days)</th></tr></thead><tbody>
${tenants.map(
  (
    t,
  ) => html`<tr><td><code>${t.tenantKey}</code></td><td>${t.name ?? ''}</td><td>${t.staff ? 'staff (the vendor)' : 'customer'}</td><td>${t.state}</td>
<td>${iso(t.stateChangedAt ?? t.firstSeenAt)}</td><td>${Object.entries(t.exams).map(([state, n], i) => html`${i ? ', ' : ''}${state} ${n}`)}</td></tr>`,
)}
</tbody></table>${tenants.length === 0 ? html`<p class="muted">None seen yet.</p>` : ''}`;

const NOTICES: Record<string, string> = {
  retried: 'The job is queued again.',
  not_dead: 'That job is not dead (already retried or finished).',
};

export function mountAdminUi(router: Router, deps: AdminDeps): void {
  const enabled = (ctx: Context) => {
    if (deps.adminToken) return deps.adminToken;
    ctx.status = 404;
    ctx.body = { code: 'admin_disabled', message: 'set ADMIN_TOKEN to enable the admin endpoints' };
    return undefined;
  };

  router.get('/admin/ui', async (ctx) => {
    const token = enabled(ctx);
    if (!token) return;
    if (!(await signedIn(ctx, deps, token))) return loginPage(ctx, 401);
    const parsed = ExamQuerySchema.safeParse(ctx.query);
    if (!parsed.success)
      return page(
        ctx,
        400,
        'Bad filter',
        html`<p class="err">Bad filter.</p><p><a href="/admin/ui">Back</a></p>`,
      );
    const now = deps.now();
    const [exams, jobs, accounts, tenants] = await deps.store.write(async (tx) => {
      // Read once: the exams' counts by state and the tenants' are the same rows.
      const counted = await countExams(tx, now);
      return [
        await listExams(tx, parsed.data, now, counted),
        await jobsNeedingAttention(tx, now),
        await listAccounts(tx),
        await tenancy.list(tx, deps.staffTenantKey, now, counted),
      ] as const;
    });
    if (!exams.ok)
      return page(
        ctx,
        400,
        'Bad cursor',
        html`<p class="err">${exams.message}</p><p><a href="/admin/ui">Back</a></p>`,
      );
    const filters = {
      state: parsed.data.state ?? '',
      tenant: parsed.data.tenant ?? '',
      q: parsed.data.q ?? '',
    };
    const notice = Object.hasOwn(NOTICES, String(ctx.query.notice))
      ? NOTICES[String(ctx.query.notice)]
      : undefined;
    page(
      ctx,
      200,
      'feishu-exam admin',
      html`<h1>feishu-exam admin</h1>
<form class="inline" method="post" action="/admin/ui/logout"><button type="submit">Sign out</button></form>
<nav><a href="#exams">Exams</a><a href="#jobs">Jobs</a><a href="#accounts">Accounts</a><a href="#tenants">Tenants</a></nav>
${notice ? html`<p><strong>${notice}</strong></p>` : ''}
${examsSection(ctx, exams.page, filters)}${jobsSection(jobs, now)}${accountsSection(accounts)}${tenantsSection(tenants)}`,
    );
  });

  router.post('/admin/ui/login', async (ctx) => {
    const token = enabled(ctx);
    if (!token) return;
    const read = await readForm(ctx);
    if (!read.ok) {
      // The rest of a too large form is not read: the connection cannot be reused.
      if (read.status === 413) ctx.set('connection', 'close');
      return loginPage(ctx, read.status, read.message);
    }
    if (!sameOrigin(ctx))
      return loginPage(
        ctx,
        403,
        `The form was posted from ${ctx.get('origin')}, not from ${ctx.protocol}://${ctx.host}.`,
      );
    if (!sameSecret(read.form.get('token') ?? '', token)) return loginPage(ctx, 401, 'Wrong token.');
    const issuedAt = deps.now();
    ctx.cookies.set(SESSION_COOKIE, sessionCookie(token, issuedAt), {
      httpOnly: true,
      sameSite: 'strict',
      secure: ctx.secure,
      path: '/admin',
      maxAge: SESSION_MS,
      overwrite: true,
    });
    ctx.status = 303;
    ctx.redirect('/admin/ui');
  });

  router.post('/admin/ui/logout', async (ctx) => {
    const token = enabled(ctx);
    if (!token) return;
    if (!sameOrigin(ctx)) {
      ctx.status = 403;
      ctx.body = { code: 'cross_origin', message: 'the admin page posts only to itself' };
      return;
    }
    // Ended for every copy of the cookie, not only in this browser.
    const session = signedSession(ctx.cookies.get(SESSION_COOKIE), token, deps.now());
    if (session) await adminSessions.signOut(deps.store, session, deps.now());
    ctx.cookies.set(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'strict', path: '/admin', maxAge: 0 });
    ctx.status = 303;
    ctx.redirect('/admin/ui');
  });

  router.post('/admin/ui/jobs/:id/retry', async (ctx) => {
    const token = enabled(ctx);
    if (!token) return;
    if (!(await signedIn(ctx, deps, token))) return loginPage(ctx, 401);
    if (!sameOrigin(ctx)) {
      ctx.status = 403;
      ctx.body = { code: 'cross_origin', message: 'the admin page posts only to itself' };
      return;
    }
    const revived = await deps.store.write((tx) => reviveJob(tx, ctx.params.id as string, deps.now()));
    if (revived) deps.onRetry();
    ctx.status = 303;
    ctx.redirect(`/admin/ui?notice=${revived ? 'retried' : 'not_dead'}#jobs`);
  });
}

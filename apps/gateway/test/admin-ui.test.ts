// The operators' views over HTTP: GET /admin/exams (filters, paging by cursor) and the admin page (sign-in,
// session cookie, escaping of every value it shows, retrying a dead job).
import { request } from 'node:http';
import { envelopeV2, type KnownEvent, parse, seal } from '@feishu-exam/event-core';
import { afterEach, describe, expect, it } from 'vitest';
import { listExams, SEARCH_WINDOW } from '../src/http/admin-exams.js';
import { ExamEntity, JobEntity, type SqlTx } from '../src/store/index.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import { baseEnv, startTestGateway, type TestGateway, testDatabaseUrl } from './support.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close().catch(() => undefined)));
});
async function gateway(env: Record<string, string | undefined> = {}) {
  // On PostgreSQL too (TEST_DATABASE=postgres): the listing is hand-written SQL.
  const gw = await startTestGateway({ DATABASE_URL: testDatabaseUrl(), ...env });
  gateways.push(gw);
  return gw;
}
const bearer = { authorization: `Bearer ${baseEnv.ADMIN_TOKEN}` };

function examEvent(
  examId: string,
  fields: { name?: string; tenant?: string; account?: string; paper?: string } = {},
) {
  const envelope = envelopeV2(
    'hire.eco_exam.created_v1',
    {
      exam_id: examId,
      account_id: fields.account ?? 'acct-1',
      paper_id: fields.paper ?? 'paper001',
      candidate_info: {
        name: fields.name ?? 'Wang Er',
        mobile: { code: '86', number: '18900001111' },
        email: 'w@x.example',
      },
    },
    {
      eventId: `ev-${fields.tenant ?? 'tenant-a'}-${examId}`,
      tenantKey: fields.tenant ?? 'tenant-a',
      appId: 'cli_1',
    },
  );
  const r = parse(seal(envelope), {});
  if (!r.ok || r.kind !== 'event' || r.event.type !== 'hire.eco_exam.created_v1') throw new Error('fixture');
  return r.event as KnownEvent<'hire.eco_exam.created_v1'>;
}

async function receive(
  gw: TestGateway,
  examId: string,
  at: number,
  fields: Parameters<typeof examEvent>[1] = {},
) {
  await gw.store.write((tx) => examLifecycle.receive(tx, examEvent(examId, fields), at));
}

async function getJson(gw: TestGateway, path: string, headers: Record<string, string> = bearer) {
  const response = await fetch(`${gw.url}${path}`, { headers });
  // biome-ignore lint/suspicious/noExplicitAny: the test reads the answer's fields
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

describe('GET /admin/exams', () => {
  it('needs the admin token', async () => {
    const gw = await gateway();
    expect((await getJson(gw, '/admin/exams', {})).status).toBe(401);
    expect((await getJson(gw, '/admin/exams', { authorization: 'Bearer wrong' })).status).toBe(401);
  });

  it('takes the scheme in any case, as HTTP defines it (`bearer <token>`), and only the whole token', async () => {
    const gw = await gateway();
    const token = baseEnv.ADMIN_TOKEN;
    expect((await getJson(gw, '/admin/exams', { authorization: `bearer ${token}` })).status).toBe(200);
    expect((await getJson(gw, '/admin/exams', { authorization: `BEARER  ${token}` })).status).toBe(200);
    expect((await getJson(gw, '/admin/exams', { authorization: `Bearer ${token}x` })).status).toBe(401);
    expect((await getJson(gw, '/admin/exams', { authorization: `Basic ${token}` })).status).toBe(401);
  });

  it('pages newest first by cursor, without repeats, and filters by state, tenant and id', async () => {
    const gw = await gateway();
    const now = Date.now();
    for (let i = 0; i < 5; i++)
      await receive(gw, `exam-${i}`, now - (5 - i) * 60_000, { tenant: i < 3 ? 'tenant-a' : 'tenant-b' });
    await receive(gw, 'exam-same-time', now - 3 * 60_000);
    // The same exam id in another customer's Hire, at the same moment: the cursor tells them apart.
    await receive(gw, 'exam-same-time', now - 3 * 60_000, { tenant: 'tenant-c' });
    await gw.store.write((tx) => examLifecycle.reject(tx, 'exam-1', 'ou_staff', 'retired paper', now));

    const seen: string[] = [];
    let cursor = '';
    for (let pages = 0; pages < 10; pages++) {
      const { status, body } = await getJson(gw, `/admin/exams?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status).toBe(200);
      expect(body.exams.length).toBeLessThanOrEqual(2);
      seen.push(...body.exams.map((e: { examId: string }) => e.examId));
      if (!body.next_cursor) break;
      cursor = body.next_cursor;
    }
    expect(seen).toEqual([
      'exam-4',
      'exam-3',
      'exam-same-time',
      'exam-same-time',
      'exam-2',
      'exam-1',
      'exam-0',
    ]);

    const first = (await getJson(gw, '/admin/exams')).body;
    expect(first.counts).toEqual({ pending_approval: 6, arranging: 0, arranged: 0, rejected: 1, failed: 0 });
    expect(first.exams[0]).toMatchObject({
      examId: 'exam-4',
      state: 'pending_approval',
      tenantKey: 'tenant-b',
      candidateName: 'Wang Er',
    });
    expect(first.exams[0].ageMs).toBeGreaterThanOrEqual(60_000);
    // Contact details are not part of the listing.
    expect(JSON.stringify(first)).not.toContain('18900001111');
    expect(JSON.stringify(first)).not.toContain('w@x.example');

    const ids = async (query: string) =>
      (await getJson(gw, `/admin/exams?${query}`)).body.exams.map((e: { examId: string }) => e.examId);
    expect(await ids('state=rejected')).toEqual(['exam-1']);
    expect(await ids('tenant=tenant-b')).toEqual(['exam-4', 'exam-3']);
    expect(await ids('q=SAME')).toEqual(['exam-same-time', 'exam-same-time']);
    expect(await ids('q=SAME&tenant=tenant-c')).toEqual(['exam-same-time']);
    expect(await ids('q=%25')).toEqual([]);
    expect(await ids('state=&tenant=&q=')).toHaveLength(7);
  });

  // SQLite plans without statistics. Without idx_exams_received a page sorted every exam stored (0.3 s on a
  // million, with every write waiting: BENCHMARKS.md, session 20); with a state filter, SQLite took the state
  // index and sorted every exam in the state.
  it.skipIf(process.env.TEST_DATABASE === 'postgres')(
    'reads a page along idx_exams_received, newest first, never sorting the exams: filtered, and after a cursor; an open state along idx_exams_state',
    async () => {
      const gw = await gateway();
      for (let i = 0; i < 3; i++) await receive(gw, `plan-${i}`, Date.now() - i * 1_000);
      const { next_cursor: cursor } = (await getJson(gw, '/admin/exams?limit=1')).body;
      expect(cursor).toEqual(expect.any(String));
      const filters = [
        {},
        { state: 'rejected' as const },
        { tenant: 'tenant-a' },
        { q: 'plan' },
        { cursor },
        { state: 'pending_approval' as const },
      ];
      const pages = await Promise.all(
        filters.map(async (filter) => {
          const statements: Array<[string, unknown[]]> = [];
          const recording: SqlTx = {
            all: <T>(sql: string, params: unknown[] = []) => {
              if (/^\s*SELECT/.test(sql) && !sql.includes('COUNT(*)')) statements.push([sql, params]);
              return gw.store.reads.all<T>(sql, params);
            },
            run: async () => 0,
          };
          const listed = await listExams(recording, { limit: 50, ...filter }, Date.now());
          if (!listed.ok) throw new Error(listed.message);
          const plans = [];
          // The page's statement, and before it (a filter that walks the arrivals) the search window's edge.
          for (const [sql, params] of statements) {
            const plan = await gw.store.reads.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params);
            plans.push(plan.map((row) => row.detail).join(' | '));
          }
          return { found: listed.page.exams.length, plans };
        }),
      );
      expect(pages.map((p) => p.found)).toEqual([3, 0, 3, 3, 2, 3]);
      expect(pages.map((p) => p.plans.length)).toEqual([1, 2, 2, 2, 1, 1]);
      for (const { plans } of pages.slice(0, 5))
        for (const plan of plans) {
          expect(plan).toMatch(/^(SCAN|SEARCH) e USING INDEX idx_exams_received\b/);
          // Exams of the same millisecond sorted as the walk meets them, never the whole table.
          expect(plan).not.toContain('TEMP B-TREE FOR ORDER BY');
        }
      // An open state: its own exams only (as many as are being worked on), sorted.
      expect(pages[5]?.plans[0]).toMatch(/^SEARCH e USING INDEX idx_exams_state \(state=\?\)/);
    },
  );

  it('a filtered search looks through SEARCH_WINDOW exams a page, says how far back it looked, and goes on from there', async () => {
    const gw = await gateway();
    const start = Date.now() - 1_000_000;
    await receive(gw, 'needle-1', start);
    // A history newer than the needle, longer than a search window, none of it matching.
    await gw.store.write((tx) =>
      tx.run(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO exams (exam_id, tenant_key, app_id, event_id, candidate, state, received_at, updated_at)
         SELECT 'hay-' || i, 'tenant-a', 'cli_1', 'ev-hay-' || i, '{}', 'arranged', CAST(? AS bigint) + i, CAST(? AS bigint) + i FROM n`,
        [SEARCH_WINDOW + 50, start, start],
      ),
    );
    const first = await getJson(gw, '/admin/exams?q=needle');
    expect(first.status).toBe(200);
    // Nothing in the newest window: the page says so, and is not the last.
    expect(first.body.exams).toEqual([]);
    expect(first.body.searched_back_to).toBe(new Date(start + 51).toISOString());
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await getJson(gw, `/admin/exams?q=needle&cursor=${first.body.next_cursor}`);
    expect(second.body.exams.map((e: { examId: string }) => e.examId)).toEqual(['needle-1']);
    expect(second.body.next_cursor).toBeNull();
    expect(second.body.searched_back_to).toBeNull();
    // Unfiltered, a page is a page.
    const plain = await getJson(gw, '/admin/exams?limit=2');
    expect(plain.body.exams).toHaveLength(2);
    expect(plain.body.searched_back_to).toBeNull();
    // The admin page offers to search older exams rather than saying nothing matches.
    const html = await (await fetch(`${gw.url}/admin/ui?q=needle`, { headers: bearer })).text();
    expect(html).toContain('Search older exams');
    expect(html).not.toContain('No exam matches.');
  });

  it('refuses a bad state, limit or cursor with a stable code', async () => {
    const gw = await gateway();
    expect(await getJson(gw, '/admin/exams?state=lost')).toMatchObject({
      status: 400,
      body: { code: 'bad_query' },
    });
    expect(await getJson(gw, '/admin/exams?limit=1000')).toMatchObject({
      status: 400,
      body: { code: 'bad_query' },
    });
    expect(await getJson(gw, '/admin/exams?cursor=nonsense')).toMatchObject({
      status: 400,
      body: { code: 'bad_cursor' },
    });
  });
});

const EVIL = '<script>alert(1)</script>';

async function signIn(gw: TestGateway, token: string = baseEnv.ADMIN_TOKEN) {
  return fetch(`${gw.url}/admin/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
}
/** A form post sent with an Origin header (fetch sets its own). */
const postFrom = (url: string, cookie: string, origin: string) =>
  new Promise<number>((resolve, reject) =>
    request(url, { method: 'POST', headers: { cookie, origin } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end(),
  );
const cookieOf = (response: Response) => (response.headers.get('set-cookie') ?? '').split(';')[0] as string;

async function deadJob(gw: TestGateway, id: string, lastError: string, kind = 'post_card') {
  const now = Date.now();
  await gw.store.write((tx) =>
    tx.run(
      `INSERT INTO outbox_jobs (id, kind, exam_id, payload, idempotency_key, state, attempts, max_attempts, run_at,
         locked_until, locked_by, last_error, created_at, updated_at)
       VALUES (?, ?, ?, '{}', ?, 'dead', 3, 0, ?, NULL, NULL, ?, ?, ?)`,
      [id, kind, 'exam-evil', `key-${id}`, now, lastError, now - 3_600_000, now],
    ),
  );
}

describe('the admin page', () => {
  it('answers a sign-in form over 4 KiB with 413, not with "Wrong token."', async () => {
    const gw = await gateway();
    const tooLarge = await fetch(`${gw.url}/admin/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${new URLSearchParams({ token: baseEnv.ADMIN_TOKEN })}&padding=${'x'.repeat(8192)}`,
    });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('set-cookie')).toBeNull();
    expect(await tooLarge.text()).not.toContain('Wrong token');
  });

  it('is off without ADMIN_TOKEN, and asks for the token before showing anything', async () => {
    const off = await gateway({ ADMIN_TOKEN: undefined });
    expect((await fetch(`${off.url}/admin/ui`)).status).toBe(404);

    const gw = await gateway();
    await receive(gw, 'exam-private', Date.now(), { name: 'Private Person' });
    const anonymous = await fetch(`${gw.url}/admin/ui`);
    expect(anonymous.status).toBe(401);
    const text = await anonymous.text();
    expect(text).toContain('name="token"');
    expect(text).not.toContain('Private Person');
    expect(
      (await fetch(`${gw.url}/admin/ui`, { headers: { cookie: 'feishu_exam_admin=1.forged' } })).status,
    ).toBe(401);
  });

  it('signs in with the token: an HttpOnly SameSite=Strict cookie that is not the token; a wrong token gets none', async () => {
    const gw = await gateway();
    const wrong = await signIn(gw, 'not-the-token');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();

    const ok = await signIn(gw);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/admin/ui');
    const setCookie = ok.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/httponly/i);
    expect(setCookie).toMatch(/samesite=strict/i);
    expect(setCookie).toMatch(/path=\/admin/i);
    expect(setCookie).not.toContain(baseEnv.ADMIN_TOKEN);
    const page = await fetch(`${gw.url}/admin/ui`, { headers: { cookie: cookieOf(ok) } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('cache-control')).toBe('no-store');
    // Not no-referrer: with it a browser sends `Origin: null` on the page's own form posts, which are refused.
    expect(page.headers.get('referrer-policy')).toBe('same-origin');

    // Behind a TLS-terminating proxy the cookie is Secure.
    const behindTls = await fetch(`${gw.url}/admin/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https' },
      body: new URLSearchParams({ token: baseEnv.ADMIN_TOKEN }).toString(),
    });
    expect(behindTls.status).toBe(303);
    expect(behindTls.headers.get('set-cookie')).toMatch(/;\s*secure/i);
    expect(setCookie).not.toMatch(/;\s*secure/i);

    // The cookie opens the page, not the JSON API (scripts use the token).
    expect((await fetch(`${gw.url}/admin/exams`, { headers: { cookie: cookieOf(ok) } })).status).toBe(401);
    const out = await fetch(`${gw.url}/admin/ui/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookieOf(ok) },
    });
    expect(out.headers.get('set-cookie')).toMatch(/feishu_exam_admin=;/);
  });

  it('signing out ends the session for every copy of its cookie, on every replica; other sessions go on', async () => {
    const databaseUrl = testDatabaseUrl();
    const gw = await gateway({ DATABASE_URL: databaseUrl });
    const kept = cookieOf(await signIn(gw));
    // Issued at another millisecond: another session.
    await new Promise((resume) => setTimeout(resume, 5));
    const copied = cookieOf(await signIn(gw));
    expect(copied).not.toBe(kept);
    expect((await fetch(`${gw.url}/admin/ui`, { headers: { cookie: copied } })).status).toBe(200);

    const out = await fetch(`${gw.url}/admin/ui/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: copied },
    });
    expect(out.status).toBe(303);
    // The browser dropped it; a copy of it (a proxy's log, a shared machine) no longer opens the page.
    const replay = await fetch(`${gw.url}/admin/ui`, { headers: { cookie: copied } });
    expect(replay.status).toBe(401);
    expect(await replay.text()).toContain('name="token"');
    const retry = await fetch(`${gw.url}/admin/ui/jobs/any/retry`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: copied },
    });
    expect(retry.status).toBe(401);
    // Another gateway on the same database (a replica) knows it too.
    const replica = await gateway({ DATABASE_URL: databaseUrl });
    expect((await fetch(`${replica.url}/admin/ui`, { headers: { cookie: copied } })).status).toBe(401);
    // The other session was not signed out.
    expect((await fetch(`${gw.url}/admin/ui`, { headers: { cookie: kept } })).status).toBe(200);
  });

  it('escapes every value it shows: exams, jobs, accounts', async () => {
    const gw = await gateway();
    const now = Date.now();
    await receive(gw, 'exam-evil', now, { name: EVIL });
    // Feishu's ids are checked when they arrive; the page escapes them all the same.
    await gw.store.write((tx) =>
      tx.run(`UPDATE exams SET tenant_key = ?, account_id = ?, paper_id = ? WHERE exam_id = 'exam-evil'`, [
        `tenant"><b>t`,
        `acct<i>1`,
        `paper'><u>p`,
      ]),
    );
    await gw.store.write((tx) => examLifecycle.approve(tx, 'exam-evil', `ou_<s>x`, now));
    await deadJob(gw, 'job-evil', `HTTP 400 <img src=x onerror=alert(2)>`, `kind<em>k`);
    await gw.store.write((tx) =>
      tx.run(
        `INSERT INTO accounts (account_id, tenant_key, app_id, scope, name, usage_list, custom_fields, provider_id,
           published_paper_ids, bound_at, updated_at)
         VALUES (?, ?, 'cli_1', 2, ?, '[]', '{}', ?, ?, ?, ?)`,
        [
          `acct<i>1`,
          `tenant"><b>t`,
          `北京<svg onload=alert(3)>`,
          `prov<q>x`,
          JSON.stringify(['p<a href=x>1']),
          now,
          now,
        ],
      ),
    );

    await gw.store.write((tx) =>
      tx.run(
        `INSERT INTO tenants (tenant_key, app_id, state, name, state_changed_at, first_seen_at, updated_at)
         VALUES (?, 'cli_1', 'active', ?, NULL, ?, ?) ON CONFLICT DO NOTHING`,
        [`tenant"><b>t`, `Acme<marquee>Corp`, now, now],
      ),
    );
    await gw.store.write((tx) =>
      tx.run(`UPDATE tenants SET name = ? WHERE tenant_key = ?`, [`Acme<marquee>Corp`, `tenant"><b>t`]),
    );
    const response = await fetch(`${gw.url}/admin/ui`, { headers: bearer });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    for (const raw of [
      '<script>alert',
      '<b>',
      '<i>',
      '<u>',
      '<s>',
      '<img',
      '<em>',
      '<svg',
      '<q>',
      '<a href=x>',
      '<marquee>',
      `"><b>`,
      `'><u>`,
    ])
      expect(text, raw).not.toContain(raw);
    for (const shown of [
      '&lt;img src=x onerror=alert(2)&gt;',
      'kind&lt;em&gt;k',
      '北京&lt;svg onload=alert(3)&gt;',
      'p&lt;a href=x&gt;1',
      'tenant&quot;&gt;&lt;b&gt;t',
      'paper&#39;&gt;&lt;u&gt;p',
      'ou_&lt;s&gt;x',
      'prov&lt;q&gt;x',
      'Acme&lt;marquee&gt;Corp',
    ])
      expect(text).toContain(shown);
    // The filter form echoes what was asked, escaped.
    const echoed = await (
      await fetch(`${gw.url}/admin/ui?q=${encodeURIComponent('"><x-evil>')}`, { headers: bearer })
    ).text();
    expect(echoed).not.toContain('<x-evil>');
    expect(echoed).toContain('&quot;&gt;&lt;x-evil&gt;');
  });

  it('pages exams with a next link, and retries a dead job from the page', async () => {
    // No worker: it would run the revived job at once, and a job for an exam that does not exist dies again.
    const gw = await gateway({ OUTBOX_WORKER: 'off' });
    const now = Date.now();
    for (let i = 0; i < 3; i++) await receive(gw, `exam-p${i}`, now - i * 1000);
    const first = await (await fetch(`${gw.url}/admin/ui?limit=2`, { headers: bearer })).text();
    expect(first).toContain('exam-p0');
    expect(first).not.toContain('exam-p2');
    const next = /href="([^"]*cursor=[^"]*)">Next page/.exec(first)?.[1]?.replaceAll('&amp;', '&');
    expect(next).toBeDefined();
    const second = await (await fetch(`${gw.url}${next}`, { headers: bearer })).text();
    expect(second).toContain('exam-p2');
    expect(second).not.toContain('exam-p0');

    await deadJob(gw, 'job-dead-1', 'refused');
    const cookie = cookieOf(await signIn(gw));
    const listed = await (await fetch(`${gw.url}/admin/ui`, { headers: { cookie } })).text();
    expect(listed).toContain('action="/admin/ui/jobs/job-dead-1/retry"');

    const retry = (headers: Record<string, string>) =>
      fetch(`${gw.url}/admin/ui/jobs/job-dead-1/retry`, { method: 'POST', redirect: 'manual', headers });
    expect((await retry({})).status).toBe(401);
    expect(await postFrom(`${gw.url}/admin/ui/jobs/job-dead-1/retry`, cookie, 'https://evil.example')).toBe(
      403,
    );
    const done = await retry({ cookie, origin: gw.url });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/admin/ui?notice=retried#jobs');
    const job = await gw.store.dataSource.getRepository(JobEntity).findOneByOrFail({ id: 'job-dead-1' });
    expect(job.state).not.toBe('dead');
    expect((await retry({ cookie })).headers.get('location')).toBe('/admin/ui?notice=not_dead#jobs');
    expect(await gw.store.dataSource.getRepository(ExamEntity).count()).toBe(3);
  });
});

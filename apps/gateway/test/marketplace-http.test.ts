// The marketplace (商店应用) flow as Feishu drives it over HTTP: app_ticket and lifecycle events (schema 1.0),
// account bindings (schema 2.0), and the Hire calls the gateway makes back, each with the right tenant's token.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { envelopeV1, envelopeV2, seal } from '@feishu-exam/event-core';
import { createProviderRegistry, defaultProviderContext, defineProvider } from '@feishu-exam/exam-providers';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { post, secrets, startTestGateway, type TestGateway, tempDatabaseUrl } from './support.js';

const APP_ID = secrets.appId;
const VENDOR = 'tk_vendor';

/** A marketplace Open Platform: the ISV token trio, and every other call recorded with its tenant. */
async function marketplacePlatform(validTicket = 'ticket-1') {
  const calls: Array<{ method: string; path: string; tenant: string | undefined; body: unknown }> = [];
  const counts = { resend: 0, appToken: 0, unauthenticated: 0 };
  let seq = 0;
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const body = text ? JSON.parse(text) : {};
      res.setHeader('content-type', 'application/json');
      const send = (value: unknown) => res.end(JSON.stringify(value));
      if (req.url?.endsWith('/auth/v3/app_ticket/resend')) {
        counts.resend++;
        return send({ code: 0, msg: 'success' });
      }
      if (req.url?.endsWith('/auth/v3/app_access_token')) {
        counts.appToken++;
        if (body.app_ticket !== validTicket || body.app_id !== APP_ID)
          return send({ code: 10012, msg: 'get app access token fail' });
        return send({ code: 0, msg: 'success', app_access_token: 'a-app', expire: 7200 });
      }
      if (req.url?.endsWith('/auth/v3/tenant_access_token')) {
        if (body.app_access_token !== 'a-app') return send({ code: 99991664, msg: 'invalid app token' });
        const token = `t-${body.tenant_key}-${++seq}`;
        return send({ code: 0, msg: 'success', tenant_access_token: token, expire: 7200 });
      }
      const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      // The tenant a token was issued for (also a token this platform issued before a gateway restart).
      const tenant = presented ? /^t-(.+)-\d+$/.exec(presented)?.[1] : undefined;
      if (!presented) counts.unauthenticated++;
      calls.push({
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] ?? '',
        tenant,
        body,
      });
      if (req.url?.includes('/tenant/v2/tenant/query'))
        return send({
          code: 0,
          msg: 'success',
          data: { tenant: { name: `Name of ${tenant}` } },
        });
      return send({ code: 0, msg: 'success', data: { message_id: 'om_1' } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    counts,
    close: () => server.close(),
  };
}

const provider = defineProvider({
  id: 'fielded',
  options: z.object({}),
  create: (_o, _c, id) => ({
    id,
    accountFields: [{ key: 'org', name: { zh_cn: '机构', en_us: 'Org' }, required: true }],
    createExam: async (r) => ({ examUrl: `https://x.example/${r.examId}` }),
    listPapers: async () => [{ id: 'p1', name: 'Paper one' }],
  }),
});

const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function marketplaceGateway(
  validTicket = 'ticket-1',
  definition: Parameters<typeof createProviderRegistry>[0][number] = provider,
  databaseUrl = tempDatabaseUrl(),
) {
  const registry = createProviderRegistry(
    [definition],
    { providers: [{ id: 'sandbox', type: definition.id }], defaultProvider: 'sandbox' },
    defaultProviderContext({}),
  );
  if (!registry.ok) throw new Error(registry.errors.join());
  const platform = await marketplacePlatform(validTicket);
  closers.push(() => platform.close());
  const gw = await startTestGateway(
    {
      FEISHU_DOMAIN: platform.url,
      OUTBOX_POLL_MS: '20',
      FEISHU_APP_TYPE: 'marketplace',
      FEISHU_STAFF_TENANT_KEY: VENDOR,
      DATABASE_URL: databaseUrl,
    },
    { providers: registry.registry },
  );
  closers.push(() => gw.close());
  return { gw, platform };
}

const sealOpts = { encryptKey: secrets.encryptKey };
const push = (gw: TestGateway, body: object) => {
  const sealed = seal(body, sealOpts);
  return post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody);
};
const v1 = (
  type: string,
  event: object,
  fields: { tenantKey?: string; createdAt?: number; eventId?: string } = {},
) => envelopeV1(type, event, { token: secrets.verificationToken, appId: APP_ID, ...fields });

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(check(), what).toBe(true);
}

describe('marketplace over HTTP', () => {
  it('stores a pushed (encrypted) app_ticket and gets every Hire call its customer tenant token from it', async () => {
    const { gw, platform } = await marketplaceGateway();
    const ticket = await push(gw, v1('app_ticket', { app_ticket: 'ticket-1' }));
    expect(ticket.status).toBe(200);
    const bind = await push(
      gw,
      envelopeV2(
        'hire.eco_account.created_v1',
        {
          scope: 2,
          account_id: 'acc-1',
          account_name: 'ACME',
          usage_list: [1, 2],
          custom_field_list: [{ key: 'org', value: 'ACME' }],
        },
        { token: secrets.verificationToken, tenantKey: 'tk_cust', appId: APP_ID },
      ),
    );
    expect(bind.status).toBe(200);
    const hire = () => platform.calls.filter((c) => c.path.includes('/hire/'));
    await until(() => hire().length >= 2, 'paper sync and field registration');
    await until(() => platform.calls.some((c) => c.path.includes('/tenant/v2/')), 'name fetched');
    expect(platform.counts.unauthenticated).toBe(0);
    for (const call of platform.calls) expect(call.tenant).toBe('tk_cust');
    expect(
      hire()
        .map((c) => c.path)
        .sort(),
    ).toEqual(['/open-apis/hire/v1/eco_account_custom_fields', '/open-apis/hire/v1/eco_exam_papers']);
  });

  it('a stopped tenant gets no Hire call until it starts again; a late re-push of an older event changes nothing', async () => {
    const { gw, platform } = await marketplaceGateway();
    expect((await push(gw, v1('app_ticket', { app_ticket: 'ticket-1' }))).status).toBe(200);
    const t0 = Date.now();
    const open = v1(
      'app_open',
      { installer: { open_id: 'ou_i' }, installer_employee: { open_id: 'ou_i' }, applicants: [] },
      { tenantKey: 'tk_cust', createdAt: t0 },
    );
    expect((await push(gw, open)).status).toBe(200);
    // Installed: its name fetched and the account fields registered in its Hire.
    await until(() => platform.calls.length >= 2, 'welcome calls');
    const welcomed = platform.calls.length;
    const stop = v1(
      'app_status_change',
      { status: 'stop_by_tenant', operator: { open_id: 'ou_o', user_id: 'u', union_id: 'on' } },
      { tenantKey: 'tk_cust', createdAt: t0 + 1000 },
    );
    expect((await push(gw, stop)).status).toBe(200);
    // Feishu re-pushes the app_open (same uuid, same ts): the tenant stays stopped.
    expect((await push(gw, open)).status).toBe(200);
    const tenants = async () =>
      (
        (await (
          await fetch(`${gw.url}/admin/tenants`, {
            headers: { authorization: 'Bearer admin-token-0123456789abcdef' },
          })
        ).json()) as { tenants: Array<{ tenantKey: string; state: string }> }
      ).tenants;
    expect((await tenants()).find((t) => t.tenantKey === 'tk_cust')?.state).toBe('stopped');
    const bind = envelopeV2(
      'hire.eco_account.created_v1',
      { scope: 2, account_id: 'acc-1', usage_list: [1], custom_field_list: [{ key: 'org', value: 'ACME' }] },
      { token: secrets.verificationToken, tenantKey: 'tk_cust', appId: APP_ID },
    );
    expect((await push(gw, bind)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(platform.calls.slice(welcomed)).toEqual([]);
    const start = v1(
      'app_status_change',
      { status: 'start_by_tenant' },
      { tenantKey: 'tk_cust', createdAt: t0 + 2000 },
    );
    expect((await push(gw, start)).status).toBe(200);
    const hire = () => platform.calls.filter((c) => c.path.includes('/hire/'));
    await until(() => hire().some((c) => c.path.endsWith('/eco_exam_papers')), 'paper sync after the start');
    await new Promise((r) => setTimeout(r, 200));
    expect(hire().every((c) => c.tenant === 'tk_cust')).toBe(true);
    expect(hire().filter((c) => c.path.endsWith('/eco_exam_papers'))).toHaveLength(1);
    // The binding re-pushed: no second sync.
    expect((await push(gw, bind)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(hire().filter((c) => c.path.endsWith('/eco_exam_papers'))).toHaveLength(1);
    const uninstall = v1('app_uninstalled', {}, { tenantKey: 'tk_cust', createdAt: t0 + 3000 });
    expect((await push(gw, uninstall)).status).toBe(200);
    expect((await tenants()).find((t) => t.tenantKey === 'tk_cust')?.state).toBe('uninstalled');
  });

  it("an exam: the staff card goes out with the vendor tenant's token, login info with the customer's", async () => {
    const { gw, platform } = await marketplaceGateway();
    expect((await push(gw, v1('app_ticket', { app_ticket: 'ticket-1' }))).status).toBe(200);
    const exam = envelopeV2(
      'hire.eco_exam.created_v1',
      { exam_id: 'e-1', account_id: 'acc-9', paper_id: 'p1', candidate_info: { name: 'Lin' } },
      { token: secrets.verificationToken, tenantKey: 'tk_cust', appId: APP_ID },
    );
    expect((await push(gw, exam)).status).toBe(200);
    await until(() => platform.calls.some((c) => c.path === '/open-apis/im/v1/messages'), 'card posted');
    expect(platform.calls.find((c) => c.path === '/open-apis/im/v1/messages')?.tenant).toBe(VENDOR);
    const click = () => {
      const sealed = seal(
        envelopeV2(
          'card.action.trigger',
          {
            operator: { open_id: 'ou_staff', tenant_key: VENDOR },
            token: 'c-1',
            action: { value: { action: 'approve', exam_id: 'e-1' }, tag: 'button' },
            context: { open_message_id: 'om_1', open_chat_id: 'oc_staff_chat_0001' },
          },
          { token: secrets.verificationToken, tenantKey: VENDOR, appId: APP_ID },
        ),
        sealOpts,
      );
      return post(`${gw.url}/webhook/card`, sealed.headers, sealed.rawBody);
    };
    // The card's message id is committed just after the platform answered: until then a click is "not yet".
    let answer = await click();
    for (let i = 0; i < 100 && (answer.json?.toast as { type?: string })?.type === 'warning'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      answer = await click();
    }
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ toast: { type: 'success' } });
    await until(() => platform.calls.some((c) => c.path.endsWith('/login_info')), 'login info reported');
    expect(platform.calls.find((c) => c.path.endsWith('/login_info'))?.tenant).toBe('tk_cust');
    for (const call of platform.calls.filter((c) => c.path.startsWith('/open-apis/im/')))
      expect(call.tenant).toBe(VENDOR);
    for (const call of platform.calls.filter((c) => c.path.startsWith('/open-apis/hire/')))
      expect(call.tenant).toBe('tk_cust');
    expect(platform.counts.unauthenticated).toBe(0);
  });

  it('an app_ticket pushed again hours late (a retry) neither replaces the newer one nor counts as valid', async () => {
    const { gw, platform } = await marketplaceGateway('ticket-2');
    const now = Date.now();
    await until(() => platform.counts.resend >= 1, 'the start-up resend');
    expect((await push(gw, v1('app_ticket', { app_ticket: 'ticket-2' }, { createdAt: now }))).status).toBe(
      200,
    );
    // Feishu's 6-hour retry of a push that failed back then: that ticket expired 3 hours ago.
    const late = v1('app_ticket', { app_ticket: 'ticket-1' }, { createdAt: now - 6 * 3600_000 });
    expect((await push(gw, late)).status).toBe(200);
    const bind = envelopeV2(
      'hire.eco_account.created_v1',
      { scope: 2, account_id: 'acc-1', custom_field_list: [{ key: 'org', value: 'ACME' }] },
      { token: secrets.verificationToken, tenantKey: 'tk_cust', appId: APP_ID },
    );
    expect((await push(gw, bind)).status).toBe(200);
    await until(
      () => platform.calls.some((c) => c.path.endsWith('/eco_exam_papers')),
      'papers published with a token from the newer ticket',
    );
    expect(platform.counts.resend).toBe(1);
  });

  it("a deploy that changes the account fields registers the new set in every installed customer's Hire", async () => {
    const databaseUrl = tempDatabaseUrl();
    const first = await marketplaceGateway('ticket-1', provider, databaseUrl);
    expect((await push(first.gw, v1('app_ticket', { app_ticket: 'ticket-1' }))).status).toBe(200);
    for (const tenantKey of ['tk_a', 'tk_gone'])
      expect((await push(first.gw, v1('app_open', {}, { tenantKey }))).status).toBe(200);
    const registered = (p: typeof first.platform) =>
      p.calls.filter((c) => c.path.endsWith('/eco_account_custom_fields'));
    await until(() => registered(first.platform).length === 2, 'fields registered for both customers');
    expect((await push(first.gw, v1('app_uninstalled', {}, { tenantKey: 'tk_gone' }))).status).toBe(200);
    await first.gw.close();

    const changed = defineProvider({
      id: 'changed',
      options: z.object({}),
      create: (_o, _c, id) => ({
        id,
        accountFields: [
          { key: 'org', name: { zh_cn: '机构', en_us: 'Org' }, required: true },
          { key: 'region', name: { en_us: 'Region' }, required: false },
        ],
        createExam: async (r) => ({ examUrl: `https://x.example/${r.examId}` }),
      }),
    });
    const second = await marketplaceGateway('ticket-1', changed, databaseUrl);
    await until(() => registered(second.platform).length >= 1, 'the new set registered');
    await new Promise((r) => setTimeout(r, 200));
    expect(registered(second.platform).map((c) => c.tenant)).toEqual(['tk_a']);
    expect(registered(second.platform)[0]?.body).toMatchObject({
      scope: 2,
      custom_field_list: [{ key: 'org' }, { key: 'region', is_required: false }],
    });
    // Not the staff tenant, and a restart with the same set registers nothing again.
    await second.gw.close();
    const third = await marketplaceGateway('ticket-1', changed, databaseUrl);
    await new Promise((r) => setTimeout(r, 300));
    expect(registered(third.platform)).toEqual([]);
  });
});

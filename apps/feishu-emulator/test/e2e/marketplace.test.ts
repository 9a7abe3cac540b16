import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalCardUuid, createEmulator, type EmulatedApp, type Emulator } from '../../src/index.js';
import {
  app,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  logsWritten,
  type Platform,
  startGateway,
  tempDatabaseUrl,
  until,
} from './harness.js';

// A vendor's marketplace (store) app, end to end: three customer companies install it, the vendor's own
// tenant holds the staff chat. Real gateway processes, the official SDK in ISV mode, this emulator as Feishu.
const VENDOR = 'tenant_vendor_0001';
const STAFF_CHAT = 'oc_vendor_staff_chat';
const APPROVER = 'ou_vendor_approver';
const customers = [
  { tenantKey: 'tenant_acme_0001', name: 'Acme Robotics 艾克米' },
  { tenantKey: 'tenant_globex_0001', name: 'Globex Hiring' },
  { tenantKey: 'tenant_initech_0001', name: 'Initech Software' },
] as const;
const [acme, globex, initech] = customers;

const marketplaceApp: EmulatedApp = {
  ...app,
  type: 'marketplace',
  tenants: [{ tenantKey: VENDOR, name: 'Vendor Exams Ltd', chats: [STAFF_CHAT] }, ...customers],
};

function startMarketplacePlatform(): Promise<Platform> {
  const emulator = createEmulator({
    apps: [marketplaceApp],
    retrySchedule: [100, 200, 400, 800],
    deliveryTimeoutMs: 3000,
    ticketDelayMs: 20,
  });
  return emulator.listen().then((running) => ({ emulator, running }));
}

const marketplaceEnv = (extra: Record<string, string> = {}) => ({
  FEISHU_APP_TYPE: 'marketplace',
  FEISHU_STAFF_TENANT_KEY: VENDOR,
  APPROVAL_CHAT_ID: STAFF_CHAT,
  LOG_LEVEL: 'debug',
  ...extra,
});

/** A marketplace exam's card: its uuid hashes the customer tenant with the exam id. */
const cardOf = (platform: Platform, examId: string, tenantKey?: string) => {
  const tenant = tenantKey ?? tenantOfExam.get(examId);
  return [...platform.emulator.state.messages.values()].filter(
    (m) => m.uuid === approvalCardUuid(examId, tenant),
  );
};
const tenantOfExam = new Map<string, string>();

/** hire.eco_exam.created_v1 from one customer's Hire. */
function pushExam(emulator: Emulator, gateway: GatewayProcess, examId: string, tenantKey: string) {
  tenantOfExam.set(examId, tenantKey);
  return emulator.pushExam(`${gateway.url}/webhook/event`, examPayload(examId), { tenantKey });
}

/**
 * A staff click on Approve. A card seen a moment before the gateway committed its message id asks to be
 * clicked again (a click decides only the exam of its own card): so does the test.
 */
async function approve(
  platform: Platform,
  gateway: GatewayProcess,
  examId: string,
  operatorTenantKey?: string,
  tenantKey?: string,
) {
  const card = cardOf(platform, examId, tenantKey)[0];
  if (!card) throw new Error(`no card for ${examId}`);
  return platform.emulator.clickAsStaff({
    gatewayUrl: `${gateway.url}/webhook/card`,
    messageId: card.messageId,
    operatorOpenId: APPROVER,
    value: { action: 'approve', exam_id: examId },
    formValue: { reason: '' },
    name: 'approve',
    operatorTenantKey,
  });
}

/** Every gateway log line ever captured, as text: what an operator's log store would hold. */
const logText = (gateways: GatewayProcess[]) =>
  gateways.flatMap((g) => g.logs.map((l) => JSON.stringify(l))).join('\n');

describe('marketplace app: many customers, one gateway', () => {
  let platform: Platform;
  let gateway: GatewayProcess;
  const everyGateway: GatewayProcess[] = [];
  const exams = customers.flatMap((c) =>
    [1, 2, 3].map((i) => ({ examId: `mk-${c.tenantKey}-${i}`, customer: c })),
  );

  beforeAll(async () => {
    platform = await startMarketplacePlatform();
    gateway = await startGateway(platform, marketplaceEnv());
    everyGateway.push(gateway);
  });
  afterAll(async () => {
    await Promise.all(everyGateway.map((g) => g.stop('SIGKILL')));
    await platform.running.close();
  });

  /** Initech starts the app again (its push), and the exam's login_info then reaches Feishu, once. */
  async function startAppAgain(examId: string, waitingFor: string): Promise<void> {
    await platform.emulator.pushLifecycle(
      `${gateway.url}/webhook/event`,
      initech.tenantKey,
      'start_by_tenant',
    );
    await until(waitingFor, () => loginInfoFor(platform.emulator, examId).length === 1);
  }

  it('asks for an app_ticket when it has none, and acknowledges the pushed ticket with 200', async () => {
    await until('app_ticket/resend', () => platform.emulator.state.resends.length > 0);
    // The push waits for the event URL (Feishu knows it from the developer console).
    await until(
      'a ticket waiting for the event URL',
      () => platform.emulator.state.pendingTickets.length > 0,
    );
    const [attempts] = await platform.emulator.setEventUrl(`${gateway.url}/webhook/event`);
    expect(attempts?.map((a) => a.status)).toEqual([200]);
    expect(platform.emulator.state.resends).toHaveLength(1);
  });

  it('nine exams from three customers: one card each in the staff chat, with the staff tenant token, naming the company', async () => {
    const opened = await platform.emulator.pushLifecycle(
      `${gateway.url}/webhook/event`,
      acme.tenantKey,
      'app_open',
    );
    expect(opened.map((a) => a.status)).toEqual([200]);
    for (const { examId, customer } of exams) {
      const attempts = await pushExam(platform.emulator, gateway, examId, customer.tenantKey);
      expect(attempts.map((a) => a.status)).toEqual([200]);
    }
    await until('nine cards', () => exams.every(({ examId }) => cardOf(platform, examId).length === 1));
    for (const { examId, customer } of exams) {
      const [card] = cardOf(platform, examId);
      expect(card?.chatId).toBe(STAFF_CHAT);
      expect(card?.tenantKey).toBe(VENDOR);
      expect(card?.content).toContain(customer.name);
    }
    const creates = platform.emulator.state.calls.filter((c) => c.path === '/open-apis/im/v1/messages');
    expect(creates.every((c) => c.tenantKey === VENDOR)).toBe(true);
    expect(platform.emulator.state.crossTenant).toEqual([]);
  });

  it('a click from a customer tenant is refused with a toast and changes nothing', async () => {
    const answer = await approve(platform, gateway, exams[0]?.examId as string, acme.tenantKey);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ toast: { type: 'error' } });
    expect(answer.body).not.toHaveProperty('card');
  });

  it('staff approve; each login_info carries its own customer token; one customer token expiring refreshes that tenant only', async () => {
    const before = platform.emulator.tenantTokenRequests();
    platform.emulator.expireTenantTokens(acme.tenantKey);
    for (const { examId } of exams) {
      const answer = await approve(platform, gateway, examId);
      expect(answer.body).toMatchObject({ toast: { type: 'success' } });
    }
    await until('nine login_info', () =>
      exams.every(({ examId }) => loginInfoFor(platform.emulator, examId).length > 0),
    );
    for (const { examId, customer } of exams) {
      const reports = platform.emulator.state.loginInfo.filter((l) => l.examId === examId);
      expect(reports).toHaveLength(1);
      expect(reports[0]?.tenantKey).toBe(customer.tenantKey);
      expect(reports[0]?.body).toMatchObject({ result: 0 });
    }
    const after = platform.emulator.tenantTokenRequests();
    expect(after[acme.tenantKey]).toBe((before[acme.tenantKey] ?? 0) + 1);
    expect(after[globex.tenantKey]).toBe(before[globex.tenantKey]);
    expect(after[initech.tenantKey]).toBe(before[initech.tenantKey]);
    expect(after[VENDOR]).toBe(before[VENDOR]);
    const refused = platform.emulator.state.calls.filter((c) => c.code === 99991663);
    expect(refused.length).toBeGreaterThan(0);
    expect(platform.emulator.state.crossTenant).toEqual([]);
  });

  it('two customers with the same exam id get two exams: two cards, each login_info with its own token', async () => {
    const examId = 'mk-shared-id-7001';
    for (const c of [acme, globex]) {
      const attempts = await pushExam(platform.emulator, gateway, examId, c.tenantKey);
      expect(attempts.map((a) => a.status)).toEqual([200]);
    }
    for (const c of [acme, globex]) {
      const [card] = await until(`the card for ${c.name}`, () => {
        const cards = cardOf(platform, examId, c.tenantKey);
        return cards.length > 0 && cards;
      });
      expect(card?.content).toContain(c.name);
      const answer = await approve(platform, gateway, examId, undefined, c.tenantKey);
      expect(answer.body).toMatchObject({ toast: { type: 'success' } });
    }
    await until('both login_info', () => loginInfoFor(platform.emulator, examId).length === 2);
    const reports = platform.emulator.state.loginInfo.filter((l) => l.examId === examId);
    expect(reports.map((r) => r.tenantKey).sort()).toEqual([acme.tenantKey, globex.tenantKey].sort());
    expect(platform.emulator.state.crossTenant).toEqual([]);
  });

  it('lists the customers with their names, states and exam counts', async () => {
    const response = await fetch(`${gateway.url}/admin/tenants`, {
      headers: { authorization: 'Bearer e2e-admin-token-0123456789' },
    });
    const { tenants } = (await response.json()) as {
      tenants: Array<{
        tenantKey: string;
        name: string | null;
        state: string;
        exams: Record<string, number>;
      }>;
    };
    for (const c of customers) {
      const row = tenants.find((t) => t.tenantKey === c.tenantKey);
      expect(row).toMatchObject({ name: c.name, state: 'active' });
      const shared = c === acme || c === globex ? 1 : 0;
      expect(Object.values(row?.exams ?? {}).reduce((a, b) => a + b, 0)).toBe(3 + shared);
    }
    // Each customer's Hire got the account fields in its own tenant, once.
    const fieldCalls = platform.emulator.state.calls.filter((c) =>
      c.path.endsWith('/eco_account_custom_fields'),
    );
    expect(fieldCalls.map((c) => c.tenantKey).sort()).toEqual(customers.map((c) => c.tenantKey).sort());
  });

  it('a customer that stops the app: its steps wait (the card says so) and resume when it starts again', async () => {
    const examId = 'mk-initech-paused';
    await pushExam(platform.emulator, gateway, examId, initech.tenantKey);
    await until('its card', () => cardOf(platform, examId)[0]);
    const stopped = await platform.emulator.pushLifecycle(
      `${gateway.url}/webhook/event`,
      initech.tenantKey,
      'stop_by_tenant',
    );
    expect(stopped.map((a) => a.status)).toEqual([200]);
    await until('the card says the customer stopped the app', () =>
      cardOf(platform, examId)[0]?.content.includes('stopped the app'),
    );
    expect((await approve(platform, gateway, examId)).body).toMatchObject({ toast: { type: 'success' } });
    await new Promise((r) => setTimeout(r, 500));
    expect(loginInfoFor(platform.emulator, examId)).toHaveLength(0);

    await startAppAgain(examId, 'login_info after the restart of the app');
  });

  it('a customer that stops the app before the gateway hears of it: Feishu refuses the call (99991662), and the step is retried, not given up, until the customer starts the app again', async () => {
    const examId = 'mk-initech-stopped-unheard';
    await pushExam(platform.emulator, gateway, examId, initech.tenantKey);
    await until('its card', () => cardOf(platform, examId)[0]);
    // Stopped, and its app_status_change not delivered (late, or lost): the gateway still takes it as active.
    platform.emulator.setAppStatus(initech.tenantKey, 'stop_by_tenant');
    expect((await approve(platform, gateway, examId)).body).toMatchObject({ toast: { type: 'success' } });
    const refusedLoginInfo = () =>
      platform.emulator.state.calls.filter(
        (c) => c.path.endsWith('/login_info') && c.tenantKey === initech.tenantKey && c.code === 99991662,
      );
    await until('Feishu refuses the login info twice', () => refusedLoginInfo().length >= 2);
    expect(loginInfoFor(platform.emulator, examId)).toHaveLength(0);

    // The customer starts the app again (here with its push: the gateway would also go on without it).
    await startAppAgain(examId, 'login_info once the app runs again');
  });

  it('after a restart with no new ticket push, the stored ticket still gets tokens', async () => {
    await gateway.stop();
    const resends = platform.emulator.state.resends.length;
    const ticketPushes = platform.emulator.state.pushes.length;
    // Every token Feishu issued is gone: only the stored ticket can get new ones.
    platform.emulator.revokeTokens();
    gateway = await startGateway(platform, marketplaceEnv(), gateway.databaseUrl);
    everyGateway.push(gateway);
    const examId = 'mk-after-restart';
    await pushExam(platform.emulator, gateway, examId, globex.tenantKey);
    await until('its card', () => cardOf(platform, examId)[0]);
    expect((await approve(platform, gateway, examId)).body).toMatchObject({ toast: { type: 'success' } });
    await until('login_info', () => loginInfoFor(platform.emulator, examId).length === 1);
    expect(platform.emulator.state.loginInfo.find((l) => l.examId === examId)?.tenantKey).toBe(
      globex.tenantKey,
    );
    expect(platform.emulator.state.resends).toHaveLength(resends);
    // The only push since the restart is the exam itself: no app_ticket was pushed.
    expect(platform.emulator.state.pushes.length).toBe(ticketPushes + 1);
  });

  it('never writes the app secret, a token or a ticket to its log', () => {
    const text = logText(everyGateway);
    expect(text.length).toBeGreaterThan(0);
    expect(text).toContain('app_ticket received and stored');
    expect(text).not.toContain(app.appSecret);
    expect(platform.emulator.state.secretsIssued.length).toBeGreaterThan(0);
    for (const secret of platform.emulator.state.secretsIssued) expect(text).not.toContain(secret);
  });
});

describe('marketplace app: two replicas on one database', () => {
  let platform: Platform;
  const replicas: GatewayProcess[] = [];
  afterAll(async () => {
    await Promise.all(replicas.map((g) => g.stop('SIGKILL')));
    await platform?.running.close();
  });

  it('a ticket pushed to one replica lets the other call the Open Platform', async () => {
    platform = await startMarketplacePlatform();
    const databaseUrl = tempDatabaseUrl();
    // Replica A takes pushes and runs no jobs; replica B runs every job and never sees a ticket push.
    const a = await startGateway(platform, marketplaceEnv({ OUTBOX_WORKER: 'off' }), databaseUrl);
    replicas.push(a);
    await until(
      'a ticket waiting for the event URL',
      () => platform.emulator.state.pendingTickets.length > 0,
    );
    const [attempts] = await platform.emulator.setEventUrl(`${a.url}/webhook/event`);
    expect(attempts?.map((x) => x.status)).toEqual([200]);

    const b = await startGateway(platform, marketplaceEnv(), databaseUrl);
    replicas.push(b);
    const examId = 'mk-replica';
    await pushExam(platform.emulator, a, examId, acme.tenantKey);
    await until('the card, posted by replica B', () => cardOf(platform, examId)[0]);
    expect((await approve(platform, a, examId)).body).toMatchObject({ toast: { type: 'success' } });
    await until('login_info', () => loginInfoFor(platform.emulator, examId).length === 1);
    // B found the ticket A stored: nobody asked Feishu for another.
    expect(platform.emulator.state.resends).toHaveLength(1);
    expect((await logsWritten(b)).some((l) => l.msg === 'tenant access token fetched')).toBe(true);
    expect((await logsWritten(a)).some((l) => l.msg === 'tenant access token fetched')).toBe(false);
  }, 60_000);
});

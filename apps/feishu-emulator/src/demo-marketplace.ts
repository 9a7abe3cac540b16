// `pnpm demo:marketplace`: a vendor's marketplace (store) app serving two customer companies from one
// gateway, offline. This emulator plays Feishu with three tenants (the vendor's own, where staff decide, and
// two customers); the real gateway runs in marketplace mode; the official SDK in ISV mode makes every call.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { approvalCardUuid } from './cards.js';
import { shower, step, wait } from './demo-output.js';
import { startGatewayProcess } from './gateway-process.js';
import { createEmulator } from './server.js';

const VENDOR = 'tenant_vendor_demo';
const STAFF_CHAT = 'oc_vendor_staff_chat';
const STAFF = 'ou_vendor_staff_member';
const customers = [
  { tenantKey: '2ca1d211f64f6438', name: '北京示例科技有限公司 (Example Tech Beijing)' },
  { tenantKey: '736588c9260f175d', name: 'Acme Robotics Ltd' },
];
const app = {
  appId: 'cli_demomarket00001',
  appSecret: randomBytes(16).toString('hex'),
  encryptKey: randomBytes(16).toString('hex'),
  verificationToken: randomBytes(12).toString('hex'),
  type: 'marketplace' as const,
  tenants: [{ tenantKey: VENDOR, name: 'Vendor Exams Ltd (the vendor)', chats: [STAFF_CHAT] }, ...customers],
};

const show = shower(24);
/** Every string in a card's JSON. */
const stringsIn = (value: unknown): string[] =>
  typeof value === 'string'
    ? [value]
    : typeof value === 'object' && value !== null
      ? Object.values(value).flatMap(stringsIn)
      : [];
const tenantName = (tenantKey: string | undefined) =>
  app.tenants.find((t) => t.tenantKey === tenantKey)?.name ?? `(no token: ${tenantKey})`;

const emulator = createEmulator({ apps: [app], retrySchedule: [1000, 2000, 4000, 8000], ticketDelayMs: 300 });
const feishu = await emulator.listen();
const databaseFile = join(mkdtempSync(join(tmpdir(), 'feishu-exam-market-demo-')), 'gateway.sqlite');

const gateway = await startGatewayProcess({
  FEISHU_APP_ID: app.appId,
  FEISHU_APP_SECRET: app.appSecret,
  FEISHU_ENCRYPT_KEY: app.encryptKey,
  FEISHU_VERIFICATION_TOKEN: app.verificationToken,
  FEISHU_DOMAIN: feishu.url,
  FEISHU_APP_TYPE: 'marketplace',
  FEISHU_STAFF_TENANT_KEY: VENDOR,
  APPROVAL_CHAT_ID: STAFF_CHAT,
  APPROVER_OPEN_IDS: STAFF,
  ADMIN_TOKEN: 'demo-admin-token-0123456789',
  // The demo knows its exam platform is the sandbox: no warning that candidates would get fake exams.
  ALLOW_SANDBOX_PROVIDER: 'true',
  DATABASE_URL: `sqlite:${databaseFile}`,
  OUTBOX_POLL_MS: '100',
});
console.log(`Feishu (emulated) at ${feishu.url}; gateway at ${gateway.url}, SQLite at ${databaseFile}`);
emulator.console.configure({ gatewayUrl: gateway.url, operators: [STAFF] });
console.log(`Console (every tenant's chats, the Open Platform calls, controls): ${feishu.url}/console/`);
// A failed step must not leave the gateway process behind.
process.once('uncaughtException', (err) => {
  console.error(err);
  void gateway.stop('SIGKILL').then(() => process.exit(1));
});

step('1. The gateway starts without an app_ticket and asks Feishu for one (auth/v3/app_ticket/resend)');
await wait('the resend', () => (emulator.state.pendingTickets.length > 0 ? true : undefined));
show('resend requests', emulator.state.resends.length);
// Feishu pushes the ticket to the event URL set in the developer console: this gateway's.
const [ticketPush] = await emulator.setEventUrl(`${gateway.url}/webhook/event`);
show('app_ticket pushed', (ticketPush ?? []).map((a) => `HTTP ${a.status} in ${a.ms} ms`).join(', '));

step('2. Two customer companies installed the app; each schedules a written exam in its Feishu Hire');
const exams = customers.map((c, i) => ({
  customer: c,
  seed: {
    exam_id: `71479982415425395${20 + i}`,
    account_id: '7147998241542539527',
    paper_id: 'paper001',
    candidate_info: {
      name: i === 0 ? '王二' : 'Jane Doe',
      email: i === 0 ? 'xxx@abc.vom' : 'jane@acme.example',
    },
  },
}));
for (const { customer, seed } of exams) {
  await emulator.pushLifecycle(`${gateway.url}/webhook/event`, customer.tenantKey, 'app_open');
  const attempts = await emulator.pushExam(`${gateway.url}/webhook/event`, seed, {
    tenantKey: customer.tenantKey,
  });
  show(customer.name, attempts.map((a) => `exam ${seed.exam_id}: HTTP ${a.status}`).join(', '));
}

step("3. Each exam gets a card in the vendor's staff chat, posted with the vendor tenant's token");
const cards = [];
for (const { customer, seed } of exams) {
  const card = await wait(`the card for ${customer.name}`, () =>
    [...emulator.state.messages.values()].find(
      (m) => m.uuid === approvalCardUuid(seed.exam_id, customer.tenantKey),
    ),
  );
  cards.push(card);
  // The card is bilingual: the English text is wherever a string holds the **Customer** line.
  const line = stringsIn(JSON.parse(card.content))
    .flatMap((text) => text.split('\n'))
    .find((l) => l.startsWith('**Customer**'));
  show(`card in ${card.chatId}`, `${line?.replaceAll('\\', '')}  (posted by ${tenantName(card.tenantKey)})`);
}

step("4. Staff approve both in the vendor's tenant; each login_info goes to its own customer's Hire");
for (const [i, { seed }] of exams.entries()) {
  const card = cards[i];
  if (!card) continue;
  await emulator.clickAsStaff({
    gatewayUrl: `${gateway.url}/webhook/card`,
    messageId: card.messageId,
    operatorOpenId: STAFF,
    value: { action: 'approve', exam_id: seed.exam_id },
    formValue: { reason: '' },
    name: 'approve',
  });
}
for (const { customer, seed } of exams) {
  const info = await wait(`login_info for ${customer.name}`, () =>
    emulator.state.loginInfo.find((l) => l.examId === seed.exam_id),
  );
  show(`login_info ${seed.exam_id}`, `with the token of ${tenantName(info.tenantKey)}`);
}
show('calls with a wrong token', emulator.state.crossTenant.length);

step('5. The tenants the gateway serves (GET /admin/tenants)');
const listed = (await (
  await fetch(`${gateway.url}/admin/tenants`, {
    headers: { authorization: 'Bearer demo-admin-token-0123456789' },
  })
).json()) as { tenants: Array<{ name: string; state: string; exams: Record<string, number> }> };
for (const t of listed.tenants) show(t.name ?? '(name not known yet)', { state: t.state, exams: t.exams });

step('Tokens asked for, per tenant (auth/v3/tenant_access_token)');
for (const [tenant, n] of Object.entries(emulator.tenantTokenRequests())) show(tenantName(tenant), n);

await gateway.stop('SIGTERM');
await feishu.close();
console.log('\nDone: gateway stopped cleanly (SIGTERM).');

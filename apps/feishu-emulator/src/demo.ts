// `pnpm demo`: the whole loop, offline, with no Feishu account. This emulator plays Feishu; the real gateway
// runs as its own process on SQLite with the sandbox exam platform; the official SDK client inside the
// gateway makes every Open Platform call. `pnpm demo -- --transport websocket`: Feishu's pushes and the card
// click travel over the long connection the gateway dials, instead of webhooks.
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signatureHeaders } from '@feishu-exam/event-core';
import { approvalCardUuid } from './cards.js';
import { bold, shower, step, wait } from './demo-output.js';
import { startGatewayProcess } from './gateway-process.js';
import { createEmulator } from './server.js';
import { LONG_CONNECTION } from './ws-server.js';

const transportArg = process.argv.findIndex((a) => a === '--transport' || a.startsWith('--transport='));
const transport =
  transportArg < 0
    ? 'webhook'
    : (process.argv[transportArg]?.split('=')[1] ?? process.argv[transportArg + 1] ?? 'webhook');
if (transport !== 'webhook' && transport !== 'websocket') {
  console.error(`--transport must be webhook or websocket, not ${transport}`);
  process.exit(2);
}
const overConnection = transport === 'websocket';

const app = {
  // The SDK's WSClient takes only ids of cli_ and 16 hex digits.
  appId: overConnection ? 'cli_dea0000000000001' : 'cli_demo0000000001',
  appSecret: randomBytes(16).toString('hex'),
  encryptKey: randomBytes(16).toString('hex'),
  verificationToken: randomBytes(12).toString('hex'),
};
const adminToken = randomBytes(16).toString('hex');
/** Signs the sandbox platform's result webhooks; the gateway's sandbox takes none without it. */
const sandboxWebhookSecret = randomBytes(32).toString('hex');
const STAFF = 'ou_demo_staff_member';

const show = shower(20);

const emulator = createEmulator({
  apps: [app],
  retrySchedule: [1000, 2000, 4000, 8000],
  // Feishu's ping interval (120 s) compressed, so the demo shows a few pings.
  longConnection: { clientConfig: { PingInterval: 5, ReconnectNonce: 0, ReconnectInterval: 1 } },
});
const feishu = await emulator.listen();
const databaseFile = join(mkdtempSync(join(tmpdir(), 'feishu-exam-demo-')), 'gateway.sqlite');

const gateway = await startGatewayProcess({
  FEISHU_APP_ID: app.appId,
  FEISHU_APP_SECRET: app.appSecret,
  // Over the long connection nothing is posted to the gateway: no key, no token.
  ...(overConnection
    ? { FEISHU_TRANSPORT: 'websocket' }
    : { FEISHU_ENCRYPT_KEY: app.encryptKey, FEISHU_VERIFICATION_TOKEN: app.verificationToken }),
  FEISHU_DOMAIN: feishu.url,
  APPROVAL_CHAT_ID: 'oc_demo_staff_chat',
  APPROVER_OPEN_IDS: STAFF,
  EXAM_PROVIDER: 'sandbox',
  SANDBOX_WEBHOOK_SECRET: sandboxWebhookSecret,
  // The demo knows its exam platform is the sandbox: no warning that candidates would get fake exams.
  ALLOW_SANDBOX_PROVIDER: 'true',
  DATABASE_URL: `sqlite:${databaseFile}`,
  OUTBOX_POLL_MS: '100',
  // The admin page (/admin/ui), for `--keep`: a token made for this run.
  ADMIN_TOKEN: adminToken,
});
console.log(`Feishu (emulated) at ${feishu.url}; gateway at ${gateway.url}, SQLite at ${databaseFile}`);
// Over the long connection the console sends its pushes and clicks down the WebSocket too.
emulator.console.configure({
  gatewayUrl: overConnection ? LONG_CONNECTION : gateway.url,
  operators: [STAFF],
});
const consoleUrl = `${feishu.url}/console/`;
console.log(`Console (the staff chat, the Open Platform calls, controls): ${consoleUrl}`);
if (overConnection) {
  step('0. The gateway dials Feishu: POST /callback/ws/endpoint, then the WebSocket (pbbp2 frames)');
  await wait('the long connection', () =>
    emulator.longConnection.liveCount(app.appId) > 0 ? true : undefined,
  );
  show(
    'connections',
    emulator.longConnection.connections().map((c) => `${c.id} (${c.appId})`),
  );
}

step(
  overConnection
    ? '1. Feishu sends hire.eco_exam.created_v1 over the long connection (a data frame, plaintext JSON)'
    : '1. Feishu pushes hire.eco_exam.created_v1 (the seed document example, encrypted and signed)',
);
const seed = {
  exam_id: '7147998241542539527',
  account_id: '7147998241542539527',
  paper_id: 'paper001',
  candidate_info: { name: '王二', mobile: { code: '86', number: '18900001111' }, email: 'xxx@abc.vom' },
};
const attempts = await emulator.pushExam(
  overConnection ? LONG_CONNECTION : `${gateway.url}/webhook/event`,
  seed,
  { eventId: '5e3702a84e847582be8db7fb73283c02', tenantKey: '2ca1d211f64f6438' },
);
show(
  'gateway answered',
  attempts
    .map((a) => (overConnection ? `ACK code ${a.status} in ${a.ms} ms` : `HTTP ${a.status} in ${a.ms} ms`))
    .join(', '),
);

step('2. The bot posts an approval card to the staff chat (im.v1.message.create)');
const card = await wait('the card', () =>
  [...emulator.state.messages.values()].find((m) => m.uuid === approvalCardUuid(seed.exam_id)),
);
const cardJson = JSON.parse(card.content) as {
  header: { title: { content: string } };
  body: { elements: Array<{ tag: string; content?: string }> };
};
show('message', `${card.messageId} in ${card.chatId}`);
show('title', cardJson.header.title.content);
for (const line of (cardJson.body.elements[0]?.content ?? '').split('\n'))
  console.log(`    ${line.replaceAll('\\', '')}`);
show('buttons', 'Approve, Reject (with a reason)');

step('3. A staff member clicks Approve (card.action.trigger)');
const click = await emulator.clickAsStaff({
  gatewayUrl: overConnection ? LONG_CONNECTION : `${gateway.url}/webhook/card`,
  messageId: card.messageId,
  operatorOpenId: STAFF,
  value: { action: 'approve', exam_id: seed.exam_id },
  formValue: { reason: '' },
  name: 'approve',
});
show(overConnection ? 'answer in the ACK' : 'callback answer', {
  status: click.status,
  toast: (click.body as { toast?: unknown }).toast,
});

step(
  '4. The sandbox platform arranges the exam; Feishu Hire receives login_info (hire.v1.ecoExam.loginInfo)',
);
const loginInfo = await wait('login_info', () =>
  emulator.state.loginInfo.find((l) => l.examId === seed.exam_id),
);
const shown = JSON.parse(JSON.stringify(loginInfo.body)) as { exam_login_info?: { password?: string } };
if (shown.exam_login_info?.password) shown.exam_login_info.password = '*** (sent to Feishu; masked here)';
show(`POST …/eco_exams/${seed.exam_id}/login_info`, shown);

step('5. The card is patched to its final state (im.v1.message.patch)');
await wait('the final card', () => (card.content.includes('Exam arranged') ? true : undefined));
show('title now', (JSON.parse(card.content) as typeof cardJson).header.title.content);
show('card history', card.history.map((h) => h.via).join(' → '));

step('6. The candidate finishes; the sandbox platform reports the result (signed webhook)');
const result = JSON.stringify({
  exam_id: seed.exam_id,
  score: '87.5',
  finished_at: Date.now(),
  report_url: 'https://sandbox.exam.invalid/reports/7147998241542539527',
  sections: [
    { name: 'Logic', score: '42' },
    { name: 'Coding', score: '45.5' },
  ],
});
const reported = await fetch(`${gateway.url}/webhook/provider/sandbox`, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'x-sandbox-signature': createHmac('sha256', sandboxWebhookSecret).update(result).digest('hex'),
  },
  body: result,
});
show('gateway answered', { status: reported.status, body: await reported.json() });
const update = await wait('update_result', () =>
  emulator.state.results.find((r) => r.examId === seed.exam_id),
);
show(`POST …/eco_exams/${seed.exam_id}/update_result`, update.body);
await wait('the card with the result', () => (card.content.includes('87.5') ? true : undefined));
show('card title now', (JSON.parse(card.content) as typeof cardJson).header.title.content);

step(
  overConnection
    ? '7. Someone forges a push: nothing listens for Feishu posts (the gateway dials out)'
    : '7. Someone without the encrypt key forges a push',
);
const forged = await fetch(`${gateway.url}/webhook/event`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...signatureHeaders(Buffer.from('{}'), 'guessed-key') },
  body: JSON.stringify({ encrypt: randomBytes(48).toString('base64') }),
});
show('gateway answered', { status: forged.status, body: await forged.json() });

step('Every Open Platform call the gateway made');
for (const c of emulator.state.calls) show(`${c.method} ${c.path}`, `→ HTTP ${c.status}, code ${c.code}`);

// `pnpm demo -- --keep`: leave both running to try the console by hand.
if (process.argv.includes('--keep')) {
  console.log(
    `\n${bold(`The console stays open at ${consoleUrl}`)} (Ctrl-C stops the gateway and the emulator)`,
  );
  console.log(`The gateway's admin page: ${gateway.url}/admin/ui (sign in with the token ${adminToken})`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

await gateway.stop('SIGTERM');
await feishu.close();
console.log('\nDone: gateway stopped cleanly (SIGTERM).');

// A wave of exams against Feishu's limit on one group (5 messages a second, shared by its bots: im.v1.message.create,
// 使用限制). The emulator refuses the sixth card in a second with 230020, as Feishu does; the gateway runs with its
// production outbox settings (backoff from 1 s, doubling to 5 min). Prints how many card posts Feishu refused, and
// how long the wave took from its pushes to its last card. Not part of `pnpm bench` (it measures the gateway's
// pacing, not its speed):
//   cd apps/feishu-emulator && node bench/staff-chat-wave.mjs
//   BENCH_WAVE_EXAMS=60        exams pushed at once (default 60)
//   BENCH_WAVE_WORKERS=2       gateways running outbox workers on one database (default 1; more want
//                              BENCH_DATABASE=postgres, the deployment for several replicas)
//   FEISHU_EXAM_GATEWAY_MAIN=<a build's dist/main.js>   another build (one from before the pacing, to compare)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchDatabase } from '../../../scripts/bench-database.mjs';
import { approvalCardUuid, createEmulator, FeishuCode, startGatewayProcess } from '../dist/index.js';

const EXAMS = Number(process.env.BENCH_WAVE_EXAMS ?? 60);
const WORKERS = Number(process.env.BENCH_WAVE_WORKERS ?? 1);
const GROUP_LIMIT = 5;
const app = {
  appId: 'cli_bench00000001',
  appSecret: 'bench-app-secret-0123456789',
  encryptKey: 'bench-encrypt-key-0123456789',
  verificationToken: 'bench-verification-token',
};
const dir = mkdtempSync(join(tmpdir(), 'wave-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const database = await benchDatabase(dir);
if (WORKERS > 1 && database.dialect === 'sqlite')
  console.log('note: several gateways on one SQLite file work but are not the deployment for replicas');

const emulator = createEmulator({ apps: [app], retrySchedule: [1000, 2000, 4000], deliveryTimeoutMs: 3000 });
const running = await emulator.listen();
emulator.limitGroupMessages(GROUP_LIMIT);
const databaseUrl = database.fresh('wave');
const gateways = [];
for (let i = 0; i < WORKERS; i++)
  gateways.push(
    await startGatewayProcess({
      FEISHU_APP_ID: app.appId,
      FEISHU_APP_SECRET: app.appSecret,
      FEISHU_ENCRYPT_KEY: app.encryptKey,
      FEISHU_VERIFICATION_TOKEN: app.verificationToken,
      FEISHU_DOMAIN: running.url,
      APPROVAL_CHAT_ID: 'oc_bench_staff_chat',
      ALLOW_SANDBOX_PROVIDER: 'true',
      DATABASE_URL: databaseUrl,
    }),
  );

const exams = Array.from(
  { length: EXAMS },
  (_, i) => `7${String(Date.now()).slice(-9)}${String(i).padStart(5, '0')}`,
);
const uuids = new Set(exams.map((id) => approvalCardUuid(id)));
const cardsPosted = () => [...emulator.state.messages.values()].filter((m) => uuids.has(m.uuid ?? '')).length;
const started = Date.now();
await Promise.all(
  exams.map((exam_id, i) =>
    emulator.pushExam(`${gateways[i % WORKERS].url}/webhook/event`, {
      exam_id,
      account_id: '7147998241542539527',
      paper_id: 'paper001',
      candidate_info: { name: '王二', mobile: { code: '86', number: '18900001111' }, email: 'xxx@abc.vom' },
    }),
  ),
);
while (cardsPosted() < EXAMS) {
  if (Date.now() - started > 600_000)
    throw new Error(`only ${cardsPosted()} of ${EXAMS} cards after 10 minutes`);
  await new Promise((r) => setTimeout(r, 50));
}
const seconds = (Date.now() - started) / 1000;

const creates = emulator.state.calls.filter(
  (c) => c.method === 'POST' && c.path === '/open-apis/im/v1/messages',
);
const refused = creates.filter((c) => c.code === FeishuCode.chatRateLimited);
const first = refused[0]?.at ?? started;
const bySecond = new Map();
for (const c of refused) {
  const second = Math.floor((c.at - first) / 1000);
  bySecond.set(second, (bySecond.get(second) ?? 0) + 1);
}
console.log(
  `# staff chat wave: ${EXAMS} exams at once, the group limited to ${GROUP_LIMIT} messages a second, ${WORKERS} gateway(s) with outbox workers, ${database.description}`,
);
console.log(`cards posted: ${creates.length - refused.length} (one per exam: ${cardsPosted() === EXAMS})`);
console.log(`card posts refused (230020): ${refused.length}`);
console.log(
  `refusals by second after the first: ${[...bySecond].map(([s, n]) => `${s}s ${n}`).join(', ') || 'none'}`,
);
// Where the refused cards went: each one's place among the cards as they were posted, and how long after its
// refusal Feishu took it.
const posted = creates.filter((c) => c.code === 0);
const place = new Map(posted.map((c, i) => [c.body?.uuid, { place: i + 1, at: c.at }]));
const retried = refused.flatMap((c) => {
  const taken = place.get(c.body?.uuid);
  return taken ? [{ place: taken.place, afterMs: taken.at - c.at }] : [];
});
if (retried.length > 0)
  console.log(
    `the refused cards, posted later: ${retried.map((r) => `#${r.place} after ${(r.afterMs / 1000).toFixed(1)} s`).join(', ')} (of ${posted.length})`,
  );
console.log(`from the pushes to the last card: ${seconds.toFixed(1)} s`);
await Promise.all(gateways.map((g) => g.stop()));
await running.close();
process.exit(0);

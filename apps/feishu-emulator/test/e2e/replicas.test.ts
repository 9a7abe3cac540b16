// Two gateway replicas on one PostgreSQL database (the deployment for several replicas). Feishu delivers each
// push to one replica and its retry to the other; staff click on both at once; one replica is SIGKILLed in the
// middle and restarted. Runs when the suites run on PostgreSQL (TEST_DATABASE=postgres, as CI does).
import { afterAll, describe, expect, it } from 'vitest';
import { FeishuCode } from '../../src/index.js';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  type Platform,
  startGateway,
  startPlatform,
  tempDatabaseUrl,
  until,
} from './harness.js';

const onPostgres = process.env.TEST_DATABASE === 'postgres';
const gateways: GatewayProcess[] = [];
let platform: Platform | undefined;
let wavePlatform: Platform | undefined;
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
  await platform?.running.close();
  await wavePlatform?.running.close();
});

describe.skipIf(!onPostgres)('two replicas on one PostgreSQL', () => {
  it('every push and its retry reach both, clicks land on both at once, one replica is killed: one card and one arrangement per exam, none lost', async () => {
    platform = await startPlatform();
    const p = platform;
    const databaseUrl = tempDatabaseUrl();
    const a = await startGateway(p, { OUTBOX_CONCURRENCY: '4' }, databaseUrl);
    gateways.push(a);
    let b = await startGateway(p, { OUTBOX_CONCURRENCY: '4' }, databaseUrl);
    gateways.push(b);
    // Slow card posts keep jobs in flight on both replicas when one of them dies.
    p.emulator.randomFaults(1, ['delay'], '/open-apis/im/');

    const exams = Array.from({ length: 40 }, (_, i) => `replica-${i}`);
    // The same event (same event id) delivered to both replicas at once: Feishu's retry racing the original.
    const pushes = exams.map((id) =>
      Promise.all(
        [a, b].map((g) =>
          p.emulator.pushExam(`${g.url}/webhook/event`, examPayload(id), { eventId: `ev-${id}` }),
        ),
      ),
    );
    await until('some cards', () => exams.filter((id) => cardsFor(p.emulator, id).length > 0).length >= 5);
    expect(await b.stop('SIGKILL')).toBe(null);
    const acknowledged = await Promise.allSettled(pushes);
    b = await startGateway(p, { OUTBOX_CONCURRENCY: '4' }, databaseUrl);
    gateways.push(b);
    // A push whose replica died unanswered is re-pushed by Feishu: to the restarted replica.
    for (const [i, outcome] of acknowledged.entries()) {
      const delivered =
        outcome.status === 'fulfilled' && outcome.value.some((attempts) => attempts.at(-1)?.status === 200);
      if (!delivered) {
        const id = exams[i] as string;
        await p.emulator.pushExam(`${b.url}/webhook/event`, examPayload(id), { eventId: `ev-${id}` });
      }
    }
    p.emulator.clearFaults();

    await until(
      'a card for every exam',
      () => exams.every((id) => cardsFor(p.emulator, id).length > 0),
      60_000,
    );
    // Two staff members approve every exam at the same moment, one through each replica.
    await Promise.all(
      exams.flatMap((id) => [
        clickFor(p, a, id, 'ou_staff_one', 'approve'),
        clickFor(p, b, id, 'ou_staff_two', 'approve'),
      ]),
    );
    await until(
      'every exam arranged and reported',
      () => exams.every((id) => loginInfoFor(p.emulator, id).length > 0),
      60_000,
    );

    for (const id of exams) {
      expect(cardsFor(p.emulator, id), id).toHaveLength(1);
      const reports = loginInfoFor(p.emulator, id);
      // One arrangement: every report of an exam carries the same login (a kill may repeat a report).
      expect(new Set(reports.map((r) => JSON.stringify(r))).size, id).toBe(1);
      expect(reports[0]?.result, id).toBe(0);
    }
  }, 200_000);

  it("Feishu's limit on the staff chat is met once, then both replicas take turns in one pace: no refusal after the first second", async () => {
    wavePlatform = await startPlatform();
    const p = wavePlatform;
    p.emulator.limitGroupMessages(5);
    const databaseUrl = tempDatabaseUrl();
    const replicas = [
      await startGateway(p, { OUTBOX_CONCURRENCY: '8' }, databaseUrl),
      await startGateway(p, { OUTBOX_CONCURRENCY: '8' }, databaseUrl),
    ];
    gateways.push(...replicas);
    const exams = Array.from({ length: 32 }, (_, i) => `replica-wave-${i}`);
    await Promise.all(
      exams.map((id, i) =>
        p.emulator.pushExam(`${(replicas[i % 2] as GatewayProcess).url}/webhook/event`, examPayload(id)),
      ),
    );
    await until('32 cards', () => exams.every((id) => cardsFor(p.emulator, id).length === 1), 60_000);

    for (const id of exams) expect(cardsFor(p.emulator, id), id).toHaveLength(1);
    const creates = p.emulator.state.calls.filter(
      (c) => c.method === 'POST' && c.path === '/open-apis/im/v1/messages',
    );
    const refused = creates.filter((c) => c.code === FeishuCode.chatRateLimited);
    expect(refused.length).toBeGreaterThan(0);
    // Only the cards on their way when the first refusal came back were refused. Each replica pacing its own
    // cards offered 4 a second of its own, 8 in all, and Feishu refused some every second until the last card.
    const first = refused[0]?.at as number;
    expect(refused.filter((c) => c.at >= first + 1000)).toEqual([]);
    expect(creates.length - refused.length).toBe(exams.length);
  }, 120_000);
});

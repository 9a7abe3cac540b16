import { afterEach, describe, expect, it } from 'vitest';
import { FeishuCode } from '../../src/index.js';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  logsWritten,
  type Platform,
  startGateway,
  startPlatform,
  tempDatabaseUrl,
  until,
} from './harness.js';

let platform: Platform | undefined;
const gateways: GatewayProcess[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop('SIGKILL')));
  await platform?.running.close();
});

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

const finalCard = (p: Platform, examId: string) =>
  cardsFor(p.emulator, examId)[0]?.content.includes('Exam arranged');

const METRICS_TOKEN = 'e2e-metrics-token-0123456789';

describe('resilience', () => {
  it('30% of Open Platform calls fail (5xx, rate limit, expired token) over 200 exams: every exam still completes, login_info exactly once each', async () => {
    platform = await startPlatform();
    const p = platform;
    const gateway = await startGateway(p, { OUTBOX_CONCURRENCY: '16' });
    gateways.push(gateway);
    p.emulator.randomFaults(0.3, ['http_500', 'rate_limit', 'token_expired']);
    const exams = Array.from({ length: 200 }, (_, i) => `fault-${i}`);

    await inBatches(exams, 25, (id) => p.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload(id)));
    await until('200 cards', () => exams.every((id) => cardsFor(p.emulator, id).length === 1), 90_000);
    await inBatches(exams, 25, async (id) =>
      expect((await clickFor(p, gateway, id, 'ou_staff', 'approve')).status).toBe(200),
    );
    await until(
      '200 login_info and final cards',
      () => exams.every((id) => loginInfoFor(p.emulator, id).length > 0 && finalCard(p, id)),
      90_000,
    );

    for (const id of exams) {
      expect(cardsFor(p.emulator, id), id).toHaveLength(1);
      expect(loginInfoFor(p.emulator, id), id).toHaveLength(1);
      expect(loginInfoFor(p.emulator, id)[0]?.result).toBe(0);
    }
    const faulted = p.emulator.state.calls.filter((c) => c.fault);
    const kinds = new Set(faulted.map((c) => c.fault));
    expect(kinds).toEqual(new Set(['http_500', 'rate_limit', 'token_expired']));
    const share =
      faulted.length / p.emulator.state.calls.filter((c) => !c.path.startsWith('/open-apis/auth/')).length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.4);
  }, 200_000);

  it('a gateway killed with SIGKILL in the middle of 100 exams, twice, and restarted, loses none of them', async () => {
    platform = await startPlatform();
    const p = platform;
    const databaseUrl = tempDatabaseUrl();
    const exams = Array.from({ length: 100 }, (_, i) => `kill-${i}`);
    // Slow Open Platform answers keep work in flight when the kill comes.
    p.emulator.randomFaults(1, ['delay'], '/open-apis/im/');

    const first = await startGateway(p, { OUTBOX_CONCURRENCY: '4' }, databaseUrl);
    gateways.push(first);
    await inBatches(exams, 20, async (id) => {
      const attempts = await p.emulator.pushExam(`${first.url}/webhook/event`, examPayload(id));
      expect(attempts.at(-1)?.status).toBe(200);
    });
    await until(
      'some cards posted',
      () => exams.filter((id) => cardsFor(p.emulator, id).length > 0).length >= 10,
      30_000,
    );
    expect(await first.stop('SIGKILL')).toBe(null);
    const cardsBeforeKill = exams.filter((id) => cardsFor(p.emulator, id).length > 0).length;
    expect(cardsBeforeKill).toBeLessThan(100);

    p.emulator.clearFaults();
    const second = await startGateway(p, { OUTBOX_CONCURRENCY: '4' }, databaseUrl);
    gateways.push(second);
    await until(
      '100 cards after the restart',
      () => exams.every((id) => cardsFor(p.emulator, id).length === 1),
      60_000,
    );
    p.emulator.randomFaults(1, ['delay'], '/open-apis/hire/');
    await inBatches(exams, 20, (id) => clickFor(p, second, id, 'ou_staff', 'approve'));
    await until(
      'some login_info',
      () => exams.filter((id) => loginInfoFor(p.emulator, id).length > 0).length >= 5,
      30_000,
    );
    await second.stop('SIGKILL');
    expect(exams.filter((id) => loginInfoFor(p.emulator, id).length > 0).length).toBeLessThan(100);

    p.emulator.clearFaults();
    const third = await startGateway(p, {}, databaseUrl);
    gateways.push(third);
    await until(
      'every exam arranged and reported',
      () => exams.every((id) => loginInfoFor(p.emulator, id).length > 0 && finalCard(p, id)),
      90_000,
    );

    for (const id of exams) {
      expect(cardsFor(p.emulator, id), id).toHaveLength(1);
      const reports = loginInfoFor(p.emulator, id);
      expect(reports.length, id).toBeGreaterThanOrEqual(1);
      // At least once: a kill between Feishu's answer and our commit repeats the report, never changes it.
      expect(new Set(reports.map((r) => JSON.stringify(r))).size, id).toBe(1);
    }
  }, 200_000);

  it("Feishu takes 5 messages a second into a group: a wave of 24 exams gets every card, and after Feishu's first refusal the gateway paces the chat rather than retrying into the limit", async () => {
    platform = await startPlatform();
    const p = platform;
    p.emulator.limitGroupMessages(5);
    // The harness's outbox retries within 20–300 ms: without pacing, each waiting card would be refused again
    // several times a second until its turn came.
    const gateway = await startGateway(p, { OUTBOX_CONCURRENCY: '8', METRICS_TOKEN });
    gateways.push(gateway);
    const exams = Array.from({ length: 24 }, (_, i) => `wave-${i}`);

    await Promise.all(
      exams.map((id) => p.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload(id))),
    );
    await until('24 cards', () => exams.every((id) => cardsFor(p.emulator, id).length === 1), 60_000);

    for (const id of exams) expect(cardsFor(p.emulator, id), id).toHaveLength(1);
    const creates = p.emulator.state.calls.filter(
      (c) => c.method === 'POST' && c.path === '/open-apis/im/v1/messages',
    );
    const refused = creates.filter((c) => c.code === FeishuCode.chatRateLimited);
    // The wave did meet the limit ...
    const first = refused[0]?.at as number;
    expect(refused.length).toBeGreaterThan(0);
    // ... but only with the cards already on their way when the first refusal came back (the jobs running at
    // once, and those their completions started meanwhile), all within a second of it. After that each card
    // waited for its slot, and Feishu took it. (Without pacing: ~180 refusals, until the last card.)
    expect(refused.filter((c) => c.at >= first + 1000)).toEqual([]);
    expect(refused.length).toBeLessThanOrEqual(16);
    expect(creates.length - refused.length).toBe(exams.length);
    // The operator is told once, when the pacing starts.
    const paced = (await logsWritten(gateway)).filter((l) => String(l.msg).includes('one slot at a time'));
    expect(paced).toHaveLength(1);
    expect(paced[0]).toMatchObject({ level: 'warn', groupLimitPerSecond: 5, perSecond: 4, forMs: 60_000 });
    // A refused card waits for a slot like the others (a deferral, no attempt spent), not for the backoff: no
    // card post ended as a failed attempt, and each refusal was a deferral.
    const scrape = await fetch(`${gateway.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    const metrics = await scrape.text();
    const attempts = (outcome: string) =>
      Number(
        metrics.match(
          new RegExp(
            `^feishu_exam_job_attempts_total\\{kind="post_card",outcome="${outcome}"\\} (\\d+)$`,
            'm',
          ),
        )?.[1] ?? 0,
      );
    expect(attempts('succeeded')).toBe(exams.length);
    expect(attempts('retryable_failure')).toBe(0);
    expect(attempts('deferred')).toBeGreaterThanOrEqual(refused.length);
  }, 90_000);
});

import { afterEach, describe, expect, it } from 'vitest';
import {
  cardsFor,
  examPayload,
  type GatewayProcess,
  type Platform,
  startGateway,
  startPlatform,
  until,
} from './harness.js';

let platform: Platform | undefined;
const gateways: GatewayProcess[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop('SIGKILL')));
  await platform?.running.close();
});

/** Feishu's code for a message refused for its chat's frequency limit. */
const CHAT_RATE_LIMITED = 230020;

describe('the staff chat at Feishu’s pace', () => {
  it("Feishu takes 5 messages a second into a group: a wave of 24 exams gets every card, and after Feishu's first refusal the gateway paces the chat rather than retrying into the limit", async () => {
    platform = await startPlatform();
    const p = platform;
    p.emulator.limitGroupMessages(5);
    // The harness's outbox retries within 20–300 ms: without pacing, each waiting card would be refused again
    // several times a second until its turn came.
    const gateway = await startGateway(p, { OUTBOX_CONCURRENCY: '8' });
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
    const refused = creates.filter((c) => c.code === CHAT_RATE_LIMITED);
    // The wave did meet the limit ...
    const first = refused[0]?.at as number;
    expect(refused.length).toBeGreaterThan(0);
    // ... but only with the cards already on their way when the first refusal came back (the jobs running at
    // once, and those their completions started meanwhile), all within a second of it. After that each card
    // waited for its slot, and Feishu took it. (Without pacing: ~180 refusals, until the last card.)
    expect(refused.filter((c) => c.at >= first + 1000)).toEqual([]);
    expect(refused.length).toBeLessThanOrEqual(16);
    expect(creates.length - refused.length).toBe(exams.length);
  }, 90_000);
});

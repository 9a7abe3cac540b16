// Regression tests for the outside security review (issue 9), through the real gateway over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  type Platform,
  startGateway,
  startPlatform,
  until,
} from './harness.js';

let platform: Platform;
let gateway: GatewayProcess;
beforeAll(async () => {
  platform = await startPlatform();
  gateway = await startGateway(platform);
});
afterAll(async () => {
  await gateway.stop();
  await platform.running.close();
});

const pushExam = (examId: string) =>
  platform.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload(examId));

const examRow = async (examId: string) => {
  const response = await fetch(`${gateway.url}/admin/exams/${encodeURIComponent(examId)}`, {
    headers: { authorization: 'Bearer e2e-admin-token-0123456789' },
  });
  return ((await response.json()) as { exam?: { state?: string; cardMessageId?: string | null } }).exam;
};
const examState = async (examId: string) => (await examRow(examId))?.state;

/** Waits until the gateway has recorded the exam's card (its message id). */
async function cardRecorded(examId: string) {
  for (let i = 0; i < 400; i++) {
    if ((await examRow(examId))?.cardMessageId) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the card of ${examId} was never recorded`);
}

describe('a click decides only the exam whose card it came from', () => {
  it("a click on exam A's card whose value names exam B changes nothing and is refused with a toast", async () => {
    await pushExam('hard-click-a');
    await pushExam('hard-click-b');
    const cardA = await until('card A', () => cardsFor(platform.emulator, 'hard-click-a')[0]);
    await until('card B', () => cardsFor(platform.emulator, 'hard-click-b')[0]);
    await cardRecorded('hard-click-a');
    await cardRecorded('hard-click-b');
    const contentBefore = cardA.content;

    const forged = await platform.emulator.click({
      gatewayUrl: `${gateway.url}/webhook/card`,
      messageId: cardA.messageId,
      operatorOpenId: 'ou_staff',
      value: { action: 'approve', exam_id: 'hard-click-b' },
      name: 'approve',
    });
    expect(forged.status).toBe(200);
    expect(forged.body).toMatchObject({ toast: { type: 'error' } });
    expect((forged.body as { card?: unknown }).card).toBeUndefined();
    expect(await examState('hard-click-b')).toBe('pending_approval');
    expect(await examState('hard-click-a')).toBe('pending_approval');
    expect(cardsFor(platform.emulator, 'hard-click-a')[0]?.content).toBe(contentBefore);

    // The genuine click on B's own card still works.
    const genuine = await clickFor(platform, gateway, 'hard-click-b', 'ou_staff', 'approve');
    expect(genuine.body).toMatchObject({ toast: { type: 'success' } });
    await until('B arranged', () => loginInfoFor(platform.emulator, 'hard-click-b').length > 0);
  });
});

describe('long exam ids', () => {
  it('two ids sharing their first 50 characters get a card each, and each card decides its own exam', async () => {
    const prefix = `hard-${'7'.repeat(45)}`;
    const [a, b] = [`${prefix}01`, `${prefix}02`];
    await pushExam(a);
    await pushExam(b);
    const cardA = await until('card A', () => cardsFor(platform.emulator, a)[0]);
    const cardB = await until('card B', () => cardsFor(platform.emulator, b)[0]);
    expect(cardA.messageId).not.toBe(cardB.messageId);
    await clickFor(platform, gateway, a, 'ou_staff', 'approve');
    await clickFor(platform, gateway, b, 'ou_staff', 'reject', 'wrong paper');
    await until(
      'login_info for both',
      () => loginInfoFor(platform.emulator, a).length > 0 && loginInfoFor(platform.emulator, b).length > 0,
    );
    expect(loginInfoFor(platform.emulator, a)[0]?.result).toBe(0);
    expect(loginInfoFor(platform.emulator, b)[0]?.result).toBe(1);
  });
});

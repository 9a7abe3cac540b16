import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalCardUuid } from '../../src/index.js';
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

// End to end: the real gateway process, the official SDK client inside it, this emulator as Feishu.
let platform: Platform;
let gateway: GatewayProcess;
const BOSS = 'ou_boss_approver';
const DEPUTY = 'ou_deputy_approver';

beforeAll(async () => {
  platform = await startPlatform();
  gateway = await startGateway(platform, { APPROVER_OPEN_IDS: `${BOSS},${DEPUTY}` });
});
afterAll(async () => {
  await gateway.stop();
  await platform.running.close();
});

const push = (examId: string, eventId?: string) =>
  platform.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload(examId), { eventId });
const card = (examId: string) =>
  until(`the card for ${examId}`, () => cardsFor(platform.emulator, examId)[0]);
const content = (examId: string) => cardsFor(platform.emulator, examId)[0]?.content ?? '';

describe('the approval workflow', () => {
  it('approve: card → click → arranged on the sandbox → login_info → final card', async () => {
    const attempts = await push('e2e-approve');
    expect(attempts.map((a) => a.status)).toEqual([200]);
    const posted = await card('e2e-approve');
    expect(posted.chatId).toBe('oc_e2e_staff_chat');
    expect(posted.content).toContain('王二');
    expect(posted.content).toContain('189&#42;&#42;&#42;&#42;1111');
    expect(posted.content).not.toContain('18900001111');

    const answer = await clickFor(platform, gateway, 'e2e-approve', BOSS, 'approve');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      toast: { type: 'success' },
      card: { type: 'raw', data: { schema: '2.0' } },
    });

    const [info] = await until(
      'login_info',
      () =>
        loginInfoFor(platform.emulator, 'e2e-approve').length === 1 &&
        loginInfoFor(platform.emulator, 'e2e-approve'),
    );
    expect(info).toMatchObject({
      result: 0,
      exam_login_info: {
        exam_url: expect.stringMatching(/^https:\/\/sandbox\.exam\.invalid\/exams\/e2e-approve/),
        username: 'xxx@abc.vom',
      },
    });
    await until('the final card', () => content('e2e-approve').includes('Exam arranged'));
    expect(content('e2e-approve')).toContain(`<at id=${BOSS}></at>`);
    expect(cardsFor(platform.emulator, 'e2e-approve')).toHaveLength(1);
  });

  it("a click's answer that reaches Feishu late (still within its 3 s) does not undo the final card the outbox drew after it", async () => {
    await push('e2e-late-answer');
    const posted = await card('e2e-late-answer');
    // The sandbox arranges at once: login_info is reported while the click's answer ("arranging") is on its
    // way; Feishu applies that answer when it comes, over whatever card was patched before.
    const answer = await platform.emulator.clickAsStaff({
      gatewayUrl: `${gateway.url}/webhook/card`,
      messageId: posted.messageId,
      operatorOpenId: BOSS,
      value: { action: 'approve', exam_id: 'e2e-late-answer' },
      formValue: { reason: '' },
      name: 'approve',
      answerDelayMs: 1500,
    });
    expect(answer.status).toBe(200);
    await until('login_info', () => loginInfoFor(platform.emulator, 'e2e-late-answer').length === 1);
    const message = platform.emulator.state.messages.get(posted.messageId);
    await until('the final card', () => content('e2e-late-answer').includes('Exam arranged'));
    // The last word on the card is the outbox's patch, made after the answer: nothing later overwrites it.
    expect(message?.history.map((h) => h.via)).toEqual(['create', 'callback', 'patch']);
  });

  it('reject with a reason: login_info reports the failure with the reason; a reject without one is refused', async () => {
    await push('e2e-reject');
    await card('e2e-reject');
    const empty = await clickFor(platform, gateway, 'e2e-reject', BOSS, 'reject', '  ');
    expect(empty.body).toMatchObject({ toast: { type: 'warning' } });
    const answer = await clickFor(platform, gateway, 'e2e-reject', BOSS, 'reject', 'paper001 is retired');
    expect(answer.body).toMatchObject({ toast: { type: 'success' } });
    const [info] = await until(
      'login_info',
      () =>
        loginInfoFor(platform.emulator, 'e2e-reject').length > 0 &&
        loginInfoFor(platform.emulator, 'e2e-reject'),
    );
    expect(info?.result).toBe(1);
    expect(info?.msg).toContain('paper001 is retired');
    await until('the final card', () => content('e2e-reject').includes('Arrangement rejected'));
  });

  it('an operator who is not allowed gets an error toast and changes nothing', async () => {
    await push('e2e-intruder');
    await card('e2e-intruder');
    const answer = await clickFor(platform, gateway, 'e2e-intruder', 'ou_intruder', 'approve');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      toast: {
        type: 'error',
        content: expect.stringMatching(/没有审批笔试的权限/),
        i18n: { zh_cn: expect.any(String), en_us: expect.stringMatching(/not allowed/) },
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(loginInfoFor(platform.emulator, 'e2e-intruder')).toHaveLength(0);
    expect(content('e2e-intruder')).toContain('"action":"approve"');
  });

  it('a double click changes nothing the second time, and says who did what', async () => {
    await push('e2e-double');
    await card('e2e-double');
    await clickFor(platform, gateway, 'e2e-double', BOSS, 'approve');
    const second = await clickFor(platform, gateway, 'e2e-double', BOSS, 'approve');
    expect(second.body).toMatchObject({
      toast: {
        type: 'info',
        content: expect.any(String),
        i18n: {
          zh_cn: expect.any(String),
          en_us: expect.stringMatching(new RegExp(`Already approved by ${BOSS}`)),
        },
      },
    });
    await until('login_info', () => loginInfoFor(platform.emulator, 'e2e-double').length > 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(loginInfoFor(platform.emulator, 'e2e-double')).toHaveLength(1);
  });

  it('two operators clicking at once: one wins, the other is told, one login_info', async () => {
    await push('e2e-race');
    await card('e2e-race');
    const answers = await Promise.all([
      clickFor(platform, gateway, 'e2e-race', BOSS, 'approve'),
      clickFor(platform, gateway, 'e2e-race', DEPUTY, 'reject', 'no budget'),
    ]);
    const toasts = answers.map((a) => (a.body as { toast: { type: string } }).toast.type).sort();
    expect(toasts).toEqual(['info', 'success']);
    await until('login_info', () => loginInfoFor(platform.emulator, 'e2e-race').length > 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(loginInfoFor(platform.emulator, 'e2e-race')).toHaveLength(1);
  });

  it('the same event pushed 5 times, and a second event for the same exam: one card, acknowledged every time', async () => {
    const deliveries = await Promise.all(Array.from({ length: 5 }, () => push('e2e-dupe', 'ev-e2e-dupe')));
    deliveries.push(await push('e2e-dupe', 'ev-e2e-dupe-second'));
    expect(deliveries.flat().every((a) => a.status === 200)).toBe(true);
    await card('e2e-dupe');
    await new Promise((r) => setTimeout(r, 300));
    expect(cardsFor(platform.emulator, 'e2e-dupe')).toHaveLength(1);
    const sends = platform.emulator.state.calls.filter(
      (c) =>
        c.path === '/open-apis/im/v1/messages' &&
        (c.body as { uuid?: string }).uuid === approvalCardUuid('e2e-dupe'),
    );
    expect(sends.filter((c) => c.code === 0)).toHaveLength(1);
  });

  it('a verified event with a broken payload is acknowledged, recorded as rejected, and visible to the operator', async () => {
    const attempts = await platform.emulator.pushExam(
      `${gateway.url}/webhook/event`,
      { exam_id: 42 } as never,
      { eventId: 'ev-broken-e2e' },
    );
    expect(attempts.map((a) => a.status)).toEqual([200]);
    const response = await fetch(`${gateway.url}/admin/events?outcome=rejected`, {
      headers: { authorization: 'Bearer e2e-admin-token-0123456789' },
    });
    const { events } = (await response.json()) as { events: Array<{ eventId: string; reason: string }> };
    expect(events.find((e) => e.eventId === 'ev-broken-e2e')?.reason).toMatch(/event\.exam_id/);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
  });
});

describe('dead jobs', () => {
  it('a step Feishu refuses as invalid is parked as dead, a card in the staff chat says which exam is stuck, and an operator can retry it', async () => {
    const admin = { authorization: 'Bearer e2e-admin-token-0123456789' };
    // A permanent failure (a transient one is retried until it succeeds: outage.test.ts).
    platform.emulator.injectFaults({
      match: '/eco_exams/e2e-stuck/login_info',
      kind: 'invalid_request',
      count: 1,
    });
    await push('e2e-stuck');
    await card('e2e-stuck');
    await clickFor(platform, gateway, 'e2e-stuck', BOSS, 'approve');
    const notice = await until(
      'the stuck-exam card',
      () =>
        [...platform.emulator.state.messages.values()].find(
          (m) => m.content.includes('An exam needs attention') && m.content.includes('e2e-stuck'),
        ),
      30_000,
    );
    expect(notice.chatId).toBe('oc_e2e_staff_chat');
    expect(notice.content).toContain('telling Feishu Hire the exam link');
    const dead = (await (await fetch(`${gateway.url}/admin/jobs?state=dead`, { headers: admin })).json()) as {
      jobs: Array<{ id: string; examId: string; kind: string; attempts: number; lastError: string }>;
      counts: Record<string, number>;
    };
    const job = dead.jobs.find((j) => j.examId === 'e2e-stuck');
    expect(job).toMatchObject({
      kind: 'report_login_info',
      attempts: 1,
      lastError: expect.stringMatching(/HTTP 400 code 99992402/),
    });
    expect(dead.counts.dead).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${gateway.url}/admin/jobs?state=dead`)).status).toBe(401);

    platform.emulator.clearFaults();
    const retry = await fetch(`${gateway.url}/admin/jobs/${job?.id}/retry`, {
      method: 'POST',
      headers: admin,
    });
    expect(retry.status).toBe(200);
    await until(
      'login_info after the retry',
      () => loginInfoFor(platform.emulator, 'e2e-stuck').length === 1,
    );
    await until('the final card', () => content('e2e-stuck').includes('Exam arranged'));
  }, 60_000);
});

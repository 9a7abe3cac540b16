import { createHmac } from 'node:crypto';
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

/** The sandbox platform reporting a result, signed as the sandbox provider verifies it. */
async function platformReports(result: Record<string, unknown>, secret = 'sandbox-webhook-secret') {
  const body = JSON.stringify(result);
  const response = await fetch(`${gateway.url}/webhook/provider/sandbox`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-sandbox-signature': createHmac('sha256', secret).update(body).digest('hex'),
    },
    body,
  });
  return {
    status: response.status,
    json: (await response.json()) as { results?: Array<{ examId: string; outcome: string }>; code?: unknown },
  };
}
const updates = (examId: string) =>
  platform.emulator.state.results.filter((r) => r.examId === examId).map((r) => r.body);

describe('results', () => {
  it('a platform result is written back with update_result, shown on the card, and overwritten when it changes', async () => {
    const examId = 'e2e-result';
    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload(examId));
    await until('the card', () => cardsFor(platform.emulator, examId)[0]);
    await clickFor(platform, gateway, examId, 'ou_staff', 'approve');
    await until('login_info', () => loginInfoFor(platform.emulator, examId).length > 0);
    await until('the arranged card', () =>
      cardsFor(platform.emulator, examId)[0]?.content.includes('Exam arranged'),
    );

    const refused = await platformReports({ exam_id: examId, score: '99' }, 'not-the-secret');
    expect(refused.status).toBe(401);

    const result = {
      exam_id: examId,
      score: '87.5',
      finished_at: 1_700_000_000_000,
      report_url: 'https://sandbox.exam.invalid/r/1',
      sections: [{ name: 'Logic', score: '40' }],
    };
    expect((await platformReports(result)).json.results).toEqual([{ examId, outcome: 'recorded' }]);
    const [first] = await until('update_result', () => updates(examId).length === 1 && updates(examId));
    expect(first).toEqual({
      result: '87.5',
      result_time: '1700000000000',
      report_list: [
        { name: 'Sandbox report', url: 'https://sandbox.exam.invalid/r/1', answer_time: '1700000000000' },
      ],
      detail_list: [{ name: 'Logic', result: '40' }],
    });
    await until('the card shows the result', () =>
      cardsFor(platform.emulator, examId)[0]?.content.includes('87.5'),
    );

    expect((await platformReports(result)).json.results).toEqual([{ examId, outcome: 'unchanged' }]);
    expect((await platformReports({ ...result, score: '90' })).json.results).toEqual([
      { examId, outcome: 'recorded' },
    ]);
    const all = await until('the overwrite', () => updates(examId).length === 2 && updates(examId));
    expect((all[1] as { result: string }).result).toBe('90');
    expect((await platformReports({ exam_id: 'never-arranged', score: '1' })).json.results).toEqual([
      { examId: 'never-arranged', outcome: 'not_arranged' },
    ]);
    expect(updates('never-arranged')).toHaveLength(0);
  });
});

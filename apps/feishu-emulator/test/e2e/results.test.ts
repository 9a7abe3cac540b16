import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  type Platform,
  providersFile,
  SANDBOX_WEBHOOK_SECRET,
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
async function platformReports(
  result: Record<string, unknown>,
  secret = SANDBOX_WEBHOOK_SECRET,
  to: GatewayProcess = gateway,
  providerId = 'sandbox',
) {
  const body = JSON.stringify(result);
  const response = await fetch(`${to.url}/webhook/provider/${providerId}`, {
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

  it('the old default secret, once published in the source, signs nothing', async () => {
    const forged = await platformReports(
      { exam_id: 'e2e-result', score: '0', report_url: 'https://evil.example/r' },
      'sandbox-webhook-secret',
    );
    expect(forged.status).toBe(401);
    expect(forged.json.code).toBe('provider_webhook_refused');
  });

  it('a signed result out of bounds (a javascript: report URL, an overlong score) is refused and not recorded', async () => {
    const examId = 'e2e-result-bounds';
    for (const [result, problem] of [
      [
        { exam_id: examId, score: '1', report_url: 'javascript:alert(1)' },
        /reports\[0\]\.url: must be an absolute http\(s\) URL/,
      ],
      [{ exam_id: examId, score: '9'.repeat(10_000) }, /score: must be at most 64 characters/],
    ] as const) {
      const refused = await platformReports(result);
      expect(refused.status).toBe(422);
      expect(refused.json.code).toBe('result_invalid');
      expect((refused.json as { message?: string }).message).toMatch(problem);
      expect(JSON.stringify(refused.json)).not.toContain('alert(1)');
      expect(JSON.stringify(refused.json)).not.toContain('9999');
    }
    expect(updates(examId)).toHaveLength(0);
  });
});

describe('results without SANDBOX_WEBHOOK_SECRET', () => {
  it('the sandbox takes no result webhook at all: 404 unknown_provider, whatever the signature', async () => {
    const bare = await startGateway(platform, { SANDBOX_WEBHOOK_SECRET: '' });
    try {
      for (const secret of ['sandbox-webhook-secret', SANDBOX_WEBHOOK_SECRET, '']) {
        const answer = await platformReports({ exam_id: 'e2e-any', score: '0' }, secret, bare);
        expect(answer.status).toBe(404);
        expect(answer.json.code).toBe('unknown_provider');
      }
    } finally {
      await bare.stop();
    }
  });
});

describe('a result is accepted only from the provider instance that arranged the exam', () => {
  it("platform P's signed result for an exam platform Q arranged changes nothing; Q's own is recorded", async () => {
    const file = providersFile(`defaultProvider: platform-q
providers:
  - id: platform-p
    type: sandbox
    papers: [paper-of-p]
  - id: platform-q
    type: sandbox
`);
    const two = await startGateway(platform, { PROVIDERS_FILE: file });
    try {
      const examId = 'e2e-result-owner';
      await platform.emulator.pushExam(`${two.url}/webhook/event`, examPayload(examId));
      await until('the card', () => cardsFor(platform.emulator, examId)[0]);
      await clickFor(platform, two, examId, 'ou_staff', 'approve');
      await until('the arranged card', () =>
        cardsFor(platform.emulator, examId)[0]?.content.includes('Exam arranged'),
      );
      const forged = { exam_id: examId, score: '0', report_url: 'https://evil.example/r' };
      const fromP = await platformReports(forged, SANDBOX_WEBHOOK_SECRET, two, 'platform-p');
      expect(fromP.json.results).toEqual([{ examId, outcome: 'not_this_provider' }]);
      const fromQ = await platformReports(
        { exam_id: examId, score: '77' },
        SANDBOX_WEBHOOK_SECRET,
        two,
        'platform-q',
      );
      expect(fromQ.json.results).toEqual([{ examId, outcome: 'recorded' }]);
      const [only] = await until('update_result', () => updates(examId).length === 1 && updates(examId));
      expect((only as { result: string }).result).toBe('77');
      expect(JSON.stringify(updates(examId))).not.toContain('evil.example');
    } finally {
      await two.stop();
    }
  });
});

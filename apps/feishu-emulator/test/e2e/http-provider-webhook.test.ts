import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  type Platform,
  providersFile,
  startGateway,
  startPlatform,
  until,
} from './harness.js';

/**
 * A low-code platform that pushes results, signed with an HMAC of the body as declared in the providers
 * file, carrying everything update_result takes: answer time, several reports, per-section details.
 */
const SECRET = 'lowcode-webhook-secret-0123456789';
const fake = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id: 'lc-77', url: 'https://lowcode.example/sit/77' }));
  });
});

let platform: Platform;
let gateway: GatewayProcess;
beforeAll(async () => {
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const file = providersFile(
    `defaultProvider: lowcode
providers:
  - id: lowcode
    type: http
    options:
      baseUrl: http://127.0.0.1:${(fake.address() as AddressInfo).port}
      createExam:
        path: /sittings
        body: { ref: "{{exam.id}}" }
        response: { examUrl: $.url, platformExamId: $.id }
      resultWebhook:
        signature: { header: x-lowcode-signature, algorithm: sha256, encoding: base64, prefix: "v1=", secret: LOWCODE_WEBHOOK_SECRET }
        items: $.results
        examId: $.ref
        result:
          score: $.total
          resultTime: $.scoredAt
          answerTime: $.submittedAt
          reports: { items: $.reports, name: $.title, url: $.href }
          details: { items: $.sections, name: $.label, result: $.score }
`,
  );
  platform = await startPlatform();
  gateway = await startGateway(platform, { PROVIDERS_FILE: file, LOWCODE_WEBHOOK_SECRET: SECRET });
});
afterAll(async () => {
  await gateway.stop();
  await platform.running.close();
  fake.close();
});

async function push(body: string, secret = SECRET) {
  const response = await fetch(`${gateway.url}/webhook/provider/lowcode`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-lowcode-signature': `v1=${createHmac('sha256', secret).update(body).digest('base64')}`,
    },
    body,
  });
  return response.status;
}

describe('a low-code provider’s signed result webhook, declared in YAML', () => {
  it('refuses a forged signature, and writes a signed result back with report_list (answer_time) and detail_list', async () => {
    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload('e2e-lc-push'));
    await until('the card', () => cardsFor(platform.emulator, 'e2e-lc-push')[0]);
    await clickFor(platform, gateway, 'e2e-lc-push', 'ou_staff', 'approve');
    await until('login_info', () => loginInfoFor(platform.emulator, 'e2e-lc-push').length > 0);

    const body = JSON.stringify({
      results: [
        {
          ref: 'e2e-lc-push',
          total: 93,
          scoredAt: '2026-03-01T10:05:00.000Z',
          submittedAt: '2026-03-01T10:00:00.000Z',
          reports: [
            { title: 'Summary', href: 'https://lowcode.example/r/77' },
            { title: 'Code replay', href: 'https://lowcode.example/replay/77' },
          ],
          sections: [
            { label: 'Algorithms', score: '95%' },
            { label: 'SQL', score: '90%' },
          ],
        },
      ],
    });
    expect(await push(body, 'a-forged-secret')).toBe(401);
    expect(platform.emulator.state.results.filter((r) => r.examId === 'e2e-lc-push')).toEqual([]);

    expect(await push(body)).toBe(200);
    const [update] = await until('update_result', () => {
      const results = platform.emulator.state.results.filter((r) => r.examId === 'e2e-lc-push');
      return results.length > 0 && results;
    });
    const answered = String(Date.parse('2026-03-01T10:00:00.000Z'));
    expect(update?.body).toEqual({
      result: '93',
      result_time: String(Date.parse('2026-03-01T10:05:00.000Z')),
      report_list: [
        { name: 'Summary', url: 'https://lowcode.example/r/77', answer_time: answered },
        { name: 'Code replay', url: 'https://lowcode.example/replay/77', answer_time: answered },
      ],
      detail_list: [
        { name: 'Algorithms', result: '95%' },
        { name: 'SQL', result: '90%' },
      ],
    });
  });
});

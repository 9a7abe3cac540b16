import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  logsWritten,
  type Platform,
  providersFile,
  startGateway,
  startPlatform,
  until,
} from './harness.js';

/** A fake exam platform with its own API, integrated with no code: only a providers file. */
/** Sittings arranged under a reference whose answer was lost: a second POST of the reference is a 409. */
const sittings = new Map<string, { link: string; sid: string }>();
const seen: Array<{ method?: string; url?: string; auth?: string; body: unknown }> = [];
const fake = createServer((req, res) => {
  let text = '';
  req.on('data', (c) => {
    text += c;
  });
  req.on('end', () => {
    seen.push({
      method: req.method,
      url: req.url,
      auth: req.headers.authorization,
      body: text ? JSON.parse(text) : undefined,
    });
    res.setHeader('content-type', 'application/json');
    if (req.headers.authorization !== 'Bearer lowcode-secret-42') return res.writeHead(401).end('{}');
    if (req.url?.startsWith('/api/papers'))
      return res.end(
        JSON.stringify({ papers: [{ code: 'LC-1.v2 (2024)', label: 'Low-code paper', mins: 20 }] }),
      );
    if (req.method === 'GET' && req.url?.startsWith('/api/sittings/')) {
      // The candidate finishes by the second look.
      const polls = seen.filter((s) => s.url === req.url).length;
      const id = req.url.split('/').pop();
      return res.end(
        JSON.stringify(
          polls < 2
            ? { status: 'in_progress', score: null }
            : { status: 'done', score: 91, report: `https://lowcode.example/report/${id}` },
        ),
      );
    }
    if (req.method === 'GET' && req.url?.startsWith('/api/sittings?ref=')) {
      const ref = new URL(req.url, 'http://x').searchParams.get('ref') ?? '';
      const sitting = sittings.get(ref);
      return res.end(JSON.stringify({ found: sitting ? [sitting] : [] }));
    }
    const body = JSON.parse(text) as { ref: string };
    if (sittings.has(body.ref)) return res.writeHead(409).end(JSON.stringify({ error: 'ref already used' }));
    if (body.ref.startsWith('e2e-lost')) {
      // Arranged, but the answer never reaches the gateway (here a 503; a timeout or a restart in life).
      sittings.set(body.ref, { link: `https://lowcode.example/sit/${body.ref}`, sid: `sit-${body.ref}` });
      return res.writeHead(503).end('{}');
    }
    return res.end(
      JSON.stringify({
        result: {
          id: `sit-${body.ref}`,
          url: `https://lowcode.example/sit/${body.ref}`,
          user: 'cand-1',
          pass: 'pw-1',
        },
      }),
    );
  });
});

let platform: Platform;
let gateway: GatewayProcess;
beforeAll(async () => {
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  const file = providersFile(
    `defaultProvider: lowcode
providers:
  - id: lowcode
    type: http
    options:
      baseUrl: ${base}
      headers:
        authorization: "Bearer {{secrets.LOWCODE_TOKEN}}"
      accountFields:
        - { key: school, name: { zh_cn: 学校代码, en_us: School code }, required: true }
      createExam:
        path: /api/sittings
        body: { ref: "{{exam.id}}", paper: "{{exam.paperId}}", school: "{{account.fields.school}}", email: "{{candidate.email}}" }
        response: { examUrl: $.result.url, username: $.result.user, password: $.result.pass, platformExamId: $.result.id }
        existing:
          path: /api/sittings?ref={{exam.id}}
          response: { examUrl: "$.found[0].link", platformExamId: "$.found[0].sid" }
      fetchResult:
        path: /api/sittings/{{exam.platformExamId}}
        response: { score: $.score, reportUrl: $.report }
      listPapers:
        path: /api/papers?school={{account.fields.school}}
        response: { items: $.papers, id: $.code, name: $.label, durationMinutes: $.mins }
`,
  );
  platform = await startPlatform();
  gateway = await startGateway(platform, {
    PROVIDERS_FILE: file,
    LOWCODE_TOKEN: 'lowcode-secret-42',
    RESULT_POLL_INTERVAL_MS: '150',
  });
});
afterAll(async () => {
  await gateway.stop();
  await platform.running.close();
  fake.close();
});

describe('a low-code (http) provider, declared in a providers file', () => {
  it('registers its account fields, publishes its papers for a bound account, and arranges the account’s exams', async () => {
    const fields = await until('custom fields', () => platform.emulator.state.customFields.get(2));
    expect(fields).toEqual([
      { key: 'school', name: { zh_cn: '学校代码', en_us: 'School code' }, is_required: true },
    ]);

    await platform.emulator.pushAccount(`${gateway.url}/webhook/event`, {
      scope: 2,
      account_id: 'acc-lc',
      custom_field_list: [{ key: 'school', value: 'SCH-9' }],
    });
    const papers = await until('papers', () => platform.emulator.state.papers.get('acc-lc'));
    expect([...papers.values()]).toEqual([{ id: 'LC-1.v2 (2024)', name: 'Low-code paper', duration: 20 }]);
    expect(seen.find((s) => s.url?.startsWith('/api/papers'))?.url).toBe('/api/papers?school=SCH-9');

    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, {
      ...examPayload('e2e-lowcode'),
      account_id: 'acc-lc',
      paper_id: 'LC-1.v2 (2024)',
    });
    await until('the card', () => cardsFor(platform.emulator, 'e2e-lowcode')[0]);
    await clickFor(platform, gateway, 'e2e-lowcode', 'ou_staff', 'approve');
    const [info] = await until(
      'login_info',
      () =>
        loginInfoFor(platform.emulator, 'e2e-lowcode').length > 0 &&
        loginInfoFor(platform.emulator, 'e2e-lowcode'),
    );
    expect(info).toMatchObject({
      result: 0,
      exam_login_info: {
        exam_url: 'https://lowcode.example/sit/e2e-lowcode',
        username: 'cand-1',
        password: 'pw-1',
      },
    });
    expect(seen.find((s) => s.url === '/api/sittings')?.body).toEqual({
      ref: 'e2e-lowcode',
      paper: 'LC-1.v2 (2024)',
      school: 'SCH-9',
      email: 'xxx@abc.vom',
    });
    const logs = await logsWritten(gateway);
    expect(logs.find((l) => l.msg === 'exam arranged on the platform')).toMatchObject({
      provider: 'lowcode',
      via: 'account',
    });
    expect(JSON.stringify(logs)).not.toContain('lowcode-secret-42');
  });

  it('an exam whose arrangement answer was lost is read back from the platform when it refuses the reference again (createExam.existing)', async () => {
    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, {
      ...examPayload('e2e-lost-1'),
      account_id: 'acc-lc',
      paper_id: 'LC-1.v2 (2024)',
    });
    await until('the card', () => cardsFor(platform.emulator, 'e2e-lost-1')[0]);
    await clickFor(platform, gateway, 'e2e-lost-1', 'ou_staff', 'approve');
    const [info] = await until(
      'login_info',
      () =>
        loginInfoFor(platform.emulator, 'e2e-lost-1').length > 0 &&
        loginInfoFor(platform.emulator, 'e2e-lost-1'),
    );
    expect(info).toMatchObject({
      result: 0,
      exam_login_info: { exam_url: 'https://lowcode.example/sit/e2e-lost-1' },
    });
    // One sitting: the retry was refused (409) and the lookup found the first one.
    const calls = seen
      .filter((s) => s.url === '/api/sittings' || s.url === '/api/sittings?ref=e2e-lost-1')
      .filter((s) => s.url !== '/api/sittings' || (s.body as { ref?: string }).ref === 'e2e-lost-1')
      .map((s) => `${s.method} ${s.url}`);
    expect(calls).toEqual(['POST /api/sittings', 'POST /api/sittings', 'GET /api/sittings?ref=e2e-lost-1']);
  });

  it('polls the platform for the result, and writes it back once there is one', async () => {
    const [update] = await until(
      'update_result',
      () => {
        const results = platform.emulator.state.results.filter((r) => r.examId === 'e2e-lowcode');
        return results.length > 0 && results;
      },
      20_000,
    );
    expect(update?.body).toEqual({
      result: '91',
      report_list: [{ name: 'Report', url: 'https://lowcode.example/report/sit-e2e-lowcode' }],
    });
    expect(seen.filter((s) => s.url === '/api/sittings/sit-e2e-lowcode').length).toBeGreaterThanOrEqual(2);
  });
});

import { type FakeHackerRank, startFakeHackerRank } from '@feishu-exam/provider-hackerrank/fake';
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

/**
 * The HackerRank provider package against a local HackerRank (API v3 shapes), through the real gateway: loaded
 * by `package:` as any third party's is (the gateway depends on it, so it resolves from the gateway's folder).
 */
let hackerRank: FakeHackerRank;
let platform: Platform;
let gateway: GatewayProcess;
beforeAll(async () => {
  hackerRank = await startFakeHackerRank({ apiKey: 'hr-e2e-key-0123456789' });
  const file = providersFile(
    `defaultProvider: hackerrank
providers:
  - id: hackerrank
    package: "@feishu-exam/provider-hackerrank"
    options:
      baseUrl: ${hackerRank.url}
`,
  );
  platform = await startPlatform();
  gateway = await startGateway(platform, {
    PROVIDERS_FILE: file,
    HACKERRANK_API_KEY: hackerRank.apiKey,
    RESULT_POLL_INTERVAL_MS: '150',
  });
});
afterAll(async () => {
  await gateway.stop();
  await platform.running.close();
  await hackerRank.close();
});

describe('HackerRank for Work, through the gateway', () => {
  it('registers its account field, publishes the account’s tests as papers, and invites the candidate of an approved exam', async () => {
    const fields = await until('custom fields', () => platform.emulator.state.customFields.get(2));
    expect(fields).toEqual([
      {
        key: 'hackerrank_tag',
        name: { zh_cn: 'HackerRank 标签', en_us: 'HackerRank tag' },
        is_required: false,
        description: {
          zh_cn: '添加到贵司候选人邀请上的标签，便于在 HackerRank 中筛选',
          en_us: "Added to your candidates' invitations, to find them on HackerRank",
        },
      },
    ]);
    await platform.emulator.pushAccount(`${gateway.url}/webhook/event`, {
      scope: 2,
      account_id: 'acc-hr',
      custom_field_list: [{ key: 'hackerrank_tag', value: 'ACME-HR' }],
    });
    const papers = await until('papers', () => platform.emulator.state.papers.get('acc-hr'));
    expect([...papers.values()]).toEqual([
      { id: '101', name: 'Java basics', duration: 60, question_count: 3 },
      { id: '102', name: 'SQL screen', duration: 45, question_count: 2 },
    ]);

    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, {
      ...examPayload('e2e-hr'),
      account_id: 'acc-hr',
      paper_id: '102',
    });
    await until('the card', () => cardsFor(platform.emulator, 'e2e-hr')[0]);
    await clickFor(platform, gateway, 'e2e-hr', 'ou_staff', 'approve');
    const [info] = await until(
      'login_info',
      () => loginInfoFor(platform.emulator, 'e2e-hr').length > 0 && loginInfoFor(platform.emulator, 'e2e-hr'),
    );
    const [candidate] = hackerRank.candidates;
    expect(candidate).toMatchObject({
      test: '102',
      email: 'xxx@abc.vom',
      full_name: '王二',
      invite_metadata: { feishu_exam_id: 'e2e-hr' },
      tags: ['ACME-HR'],
    });
    expect(info).toMatchObject({ result: 0, exam_login_info: { exam_url: candidate?.invite_link } });
    expect(hackerRank.requests.every((r) => r.path.startsWith('/x/api/v3/tests'))).toBe(true);
    expect(JSON.stringify(await logsWritten(gateway))).not.toContain(hackerRank.apiKey);
  });

  it('polls the candidate until HackerRank has the report, then writes the result back to Feishu', async () => {
    const [candidate] = hackerRank.candidates;
    if (!candidate) throw new Error('no candidate was invited');
    // Polled while the candidate has not finished: nothing is written back.
    await until('a poll of the unfinished candidate', () =>
      hackerRank.requests.some((r) => r.path === `/x/api/v3/tests/102/candidates/${candidate.id}`),
    );
    expect(platform.emulator.state.results.filter((r) => r.examId === 'e2e-hr')).toEqual([]);

    hackerRank.finish(candidate.id, { score: 78.5, percentage: 65.4 });
    const [update] = await until(
      'update_result',
      () => {
        const results = platform.emulator.state.results.filter((r) => r.examId === 'e2e-hr');
        return results.length > 0 && results;
      },
      20_000,
    );
    const finished = String(Date.parse(candidate.attempt_endtime ?? ''));
    expect(update?.body).toEqual({
      result: '78.5',
      result_time: finished,
      report_list: [
        { name: 'HackerRank report', url: candidate.report_url, answer_time: finished },
        { name: 'HackerRank report (PDF)', url: candidate.pdf_url, answer_time: finished },
      ],
      detail_list: [{ name: 'Percentage score', result: '65.4%' }],
    });
  });
});

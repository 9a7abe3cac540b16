import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const binding = (accountId: string, name = 'ACME Campus 2027') => ({
  scope: 2,
  account_id: accountId,
  account_name: name,
  usage_list: [2],
  custom_field_list: [{ key: 'org_code', value: 'ACME-001' }],
});
const papersOf = (accountId: string) => [...(platform.emulator.state.papers.get(accountId)?.values() ?? [])];
const sends = (path: string) => platform.emulator.state.calls.filter((c) => c.path === path && c.code === 0);

describe('accounts', () => {
  it('the account custom fields the providers need are registered at start, once per distinct set', async () => {
    const fields = await until('custom fields', () => platform.emulator.state.customFields.get(2));
    expect(fields).toEqual([
      {
        key: 'org_code',
        name: { zh_cn: '机构代码', en_us: 'Organization code' },
        is_required: false,
        description: {
          zh_cn: '您在沙箱考试平台上的机构代码',
          en_us: 'Your organization code on the sandbox exam platform',
        },
      },
    ]);
    const restarted = await startGateway(platform, {}, gateway.databaseUrl);
    await new Promise((r) => setTimeout(r, 300));
    await restarted.stop();
    expect(sends('/open-apis/hire/v1/eco_account_custom_fields')).toHaveLength(1);
  });

  it('a bound account gets its provider’s papers published to Feishu Hire', async () => {
    const attempts = await platform.emulator.pushAccount(
      `${gateway.url}/webhook/event`,
      binding('acc-e2e-1'),
      { eventId: 'ev-acc-1' },
    );
    expect(attempts.map((a) => a.status)).toEqual([200]);
    const papers = await until('papers', () =>
      papersOf('acc-e2e-1').length > 0 ? papersOf('acc-e2e-1') : undefined,
    );
    expect(papers).toEqual([
      { id: 'paper001', name: 'Sandbox: general aptitude', duration: 60, question_count: 30 },
      { id: 'paper002', name: 'Sandbox: programming', duration: 90, question_count: 5 },
    ]);
  });

  it('a re-pushed binding changes nothing; a new binding of the same account updates it and syncs again', async () => {
    const before = sends('/open-apis/hire/v1/eco_exam_papers').length;
    await platform.emulator.pushAccount(`${gateway.url}/webhook/event`, binding('acc-e2e-1'), {
      eventId: 'ev-acc-1',
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(sends('/open-apis/hire/v1/eco_exam_papers').length).toBe(before);
    await platform.emulator.pushAccount(
      `${gateway.url}/webhook/event`,
      binding('acc-e2e-1', 'ACME renamed'),
      { eventId: 'ev-acc-1-again' },
    );
    await until('a second sync', () => sends('/open-apis/hire/v1/eco_exam_papers').length === before + 1);
    // The binding's log line is written after its commit, and the outbox may send the sync before it.
    const outcomes = () =>
      gateway.logs.filter((l) => l.msg === 'account binding received').map((l) => l.outcome);
    await until('the rebinding logged', () => outcomes().length === 3);
    expect(outcomes()).toEqual(['bound', 'duplicate_event', 'rebound']);
  });

  it('an exam for a bound account is arranged by the account’s provider and reported', async () => {
    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, {
      ...examPayload('e2e-account-exam'),
      account_id: 'acc-e2e-1',
    });
    await until('the card', () => cardsFor(platform.emulator, 'e2e-account-exam')[0]);
    await clickFor(platform, gateway, 'e2e-account-exam', 'ou_staff', 'approve');
    const [info] = await until(
      'login_info',
      () =>
        loginInfoFor(platform.emulator, 'e2e-account-exam').length > 0 &&
        loginInfoFor(platform.emulator, 'e2e-account-exam'),
    );
    expect(info?.result).toBe(0);
    const arranged = (await logsWritten(gateway)).find(
      (l) => l.msg === 'exam arranged on the platform' && l.examId === 'e2e-account-exam',
    );
    expect(arranged).toMatchObject({ provider: 'sandbox', via: 'account' });
  });
});

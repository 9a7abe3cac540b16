// Account fields and paper lists as Feishu Hire keeps them: each create is a full replace (创建账号自定义字段,
// 创建试卷列表: "本接口为全量更新，多次调用时，将生效最后一次调用传入的…"), and a paper list created for an account
// that is 「未激活」 or 「停用」 turns it 「正常」 (创建试卷列表).
import { afterEach, describe, expect, it } from 'vitest';
import {
  type GatewayProcess,
  type Platform,
  providersFile,
  startGateway,
  startPlatform,
  until,
} from './harness.js';

const ADMIN = { authorization: 'Bearer e2e-admin-token-0123456789' };
const PAPERS = '/open-apis/hire/v1/eco_exam_papers';
const FIELDS = '/open-apis/hire/v1/eco_account_custom_fields';

let platform: Platform | undefined;
const gateways: GatewayProcess[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.stop();
  await platform?.running.close();
  platform = undefined;
});

const sent = (p: Platform, path: string) =>
  p.emulator.state.calls.filter((c) => c.path === path && c.code === 0);

async function jobs(gateway: GatewayProcess) {
  const answer = (await (await fetch(`${gateway.url}/admin/jobs`, { headers: ADMIN })).json()) as {
    jobs: Array<{ kind: string; state: string }>;
  };
  return answer.jobs;
}

/** A providers file whose one (http) provider asks customers for the field `key`. */
const providerAsking = (key: string) =>
  providersFile(`defaultProvider: acme
providers:
  - id: acme
    type: http
    options:
      baseUrl: http://127.0.0.1:9
      accountFields:
        - { key: ${key}, name: { en_us: ${key} }, required: true }
      createExam:
        path: /exams
        response: { examUrl: $.url }
`);

describe('account custom fields (a full replace)', () => {
  it('a set of fields changed and then changed back is registered again: Hire asks for the fields the providers read', async () => {
    const p = await startPlatform();
    platform = p;
    const first = providerAsking('api_key');
    const second = providerAsking('org_code');
    const g1 = await startGateway(p, { PROVIDERS_FILE: first });
    await until('the first set registered', () => sent(p, FIELDS).length === 1);
    await g1.stop();
    const g2 = await startGateway(p, { PROVIDERS_FILE: second }, g1.databaseUrl);
    await until('the second set registered', () => sent(p, FIELDS).length === 2);
    await g2.stop();
    // A rollback to the first set: Hire still holds the second (the last full replace).
    const g3 = await startGateway(p, { PROVIDERS_FILE: first }, g1.databaseUrl);
    gateways.push(g3);
    await until('the first set registered again', () => sent(p, FIELDS).length === 3, 5_000);
    expect(p.emulator.state.customFields.get(2)).toEqual([
      { key: 'api_key', name: { en_us: 'api_key' }, is_required: true },
    ]);
  });
});

describe('scheduled paper sync', () => {
  const binding = {
    scope: 2,
    account_id: 'acc-sync',
    account_name: 'ACME',
    usage_list: [1],
    custom_field_list: [{ key: 'org_code', value: 'ACME-001' }],
  };

  it('an unchanged paper list is not created again every round (a create turns a 停用 account 正常)', async () => {
    const p = await startPlatform();
    platform = p;
    const gateway = await startGateway(p, { PAPER_SYNC_INTERVAL_MS: '200' });
    gateways.push(gateway);
    await p.emulator.pushAccount(`${gateway.url}/webhook/event`, binding);
    await until('the papers published at binding', () => sent(p, PAPERS).length >= 1);
    // Three scheduled rounds ran to the end, each with the same list from the platform.
    const rounds = async () =>
      (await jobs(gateway)).filter((j) => j.kind === 'sync_papers' && j.state === 'done').length;
    for (let i = 0; i < 400 && (await rounds()) < 4; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await rounds()).toBeGreaterThanOrEqual(4);
    expect(sent(p, PAPERS)).toHaveLength(1);
  });

  it('a round Feishu refuses is not a new stuck job, with its own card, every round', async () => {
    const p = await startPlatform();
    platform = p;
    // Feishu refuses every paper list of this account (HTTP 400, 99992402), e.g. one it no longer accepts.
    p.emulator.injectFaults({ match: PAPERS, kind: 'invalid_request', count: 1000 });
    const gateway = await startGateway(p, { PAPER_SYNC_INTERVAL_MS: '200' });
    gateways.push(gateway);
    await p.emulator.pushAccount(`${gateway.url}/webhook/event`, binding);
    const refused = () => p.emulator.state.calls.filter((c) => c.path === PAPERS && c.fault).length;
    await until('four refused paper lists (the binding and three rounds)', () => refused() >= 4);
    const all = await jobs(gateway);
    // The binding's sync may be a stuck job (once); the rounds after it must not each be one.
    expect(all.filter((j) => j.kind === 'sync_papers' && j.state === 'dead').length).toBeLessThanOrEqual(1);
    expect(all.filter((j) => j.kind === 'notify_dead').length).toBeLessThanOrEqual(1);
  });
});

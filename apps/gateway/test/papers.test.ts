import { envelopeV2, seal } from '@feishu-exam/event-core';
import {
  createProviderRegistry,
  defaultProviderContext,
  defineProvider,
  type Paper,
} from '@feishu-exam/exam-providers';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseEnv, post, recordingPlatform, secrets, startTestGateway } from './support.js';

/** A gateway whose only exam platform is `definition` (as provider `sandbox`), calling a recording platform. */
async function gatewayWithProvider(definition: Parameters<typeof createProviderRegistry>[0][number]) {
  const registry = createProviderRegistry(
    [definition],
    { providers: [{ id: 'sandbox', type: definition.id }], defaultProvider: 'sandbox' },
    defaultProviderContext({}),
  );
  if (!registry.ok) throw new Error(registry.errors.join());
  const platform = await recordingPlatform();
  const gw = await startTestGateway(
    { FEISHU_DOMAIN: platform.url, OUTBOX_POLL_MS: '20' },
    { providers: registry.registry },
  );
  const paperCalls = () => platform.calls.filter((c) => c.path.includes('eco_exam_papers'));
  return { gw, platform, paperCalls };
}

describe('paper sync', () => {
  it('publishes the account’s papers (full replace), deletes the ones that vanished, and syncs again on demand', async () => {
    let papers: Paper[] = [
      { id: 'p1', name: 'Paper one', durationMinutes: 30 },
      { id: 'p2', name: 'Paper two' },
    ];
    const seenFields: Array<Record<string, string>> = [];
    const changing = defineProvider({
      id: 'changing',
      options: z.object({}),
      create: (_o, _c, id) => ({
        id,
        createExam: async (r) => ({ examUrl: `https://x.example/${r.examId}` }),
        listPapers: async (account) => {
          seenFields.push({ ...account?.fields });
          return papers;
        },
      }),
    });
    const { gw, platform, paperCalls } = await gatewayWithProvider(changing);
    const until = async (n: number) => {
      for (let i = 0; i < 200 && paperCalls().length < n; i++) await new Promise((r) => setTimeout(r, 20));
      expect(paperCalls()).toHaveLength(n);
    };
    try {
      const bind = seal(
        envelopeV2(
          'hire.eco_account.created_v1',
          { scope: 2, account_id: 'acc-1', custom_field_list: [{ key: 'org', value: 'ACME' }] },
          { token: secrets.verificationToken, tenantKey: 't' },
        ),
        { encryptKey: secrets.encryptKey },
      );
      expect((await post(`${gw.url}/webhook/event`, bind.headers, bind.rawBody)).status).toBe(200);
      await until(1);
      expect(paperCalls()[0]).toEqual({
        method: 'POST',
        path: '/open-apis/hire/v1/eco_exam_papers',
        body: {
          account_id: 'acc-1',
          paper_list: [
            { id: 'p1', name: 'Paper one', duration: 30 },
            { id: 'p2', name: 'Paper two' },
          ],
        },
      });
      expect(seenFields).toEqual([{ org: 'ACME' }]);

      papers = [
        { id: 'p2', name: 'Paper two' },
        { id: 'p3', name: 'Paper three' },
      ];
      const admin = { authorization: `Bearer ${baseEnv.ADMIN_TOKEN}` };
      expect(
        (await fetch(`${gw.url}/admin/accounts/acc-1/sync-papers`, { method: 'POST', headers: admin }))
          .status,
      ).toBe(200);
      await until(3);
      expect(paperCalls().slice(1)).toEqual([
        {
          method: 'POST',
          path: '/open-apis/hire/v1/eco_exam_papers',
          body: {
            account_id: 'acc-1',
            paper_list: [
              { id: 'p2', name: 'Paper two' },
              { id: 'p3', name: 'Paper three' },
            ],
          },
        },
        {
          method: 'POST',
          path: '/open-apis/hire/v1/eco_exam_papers/batch_delete',
          body: { account_id: 'acc-1', paper_id_list: ['p1'] },
        },
      ]);
      expect(
        (await fetch(`${gw.url}/admin/accounts/nobody/sync-papers`, { method: 'POST', headers: admin }))
          .status,
      ).toBe(404);
    } finally {
      await gw.close();
      platform.close();
    }
  });

  it("sends duration and question_count as Feishu's int fields (whole numbers), times as millisecond strings", async () => {
    const fractional = defineProvider({
      id: 'fractional',
      options: z.object({}),
      create: (_o, _c, id) => ({
        id,
        createExam: async (r) => ({ examUrl: `https://x.example/${r.examId}` }),
        listPapers: async () => [
          {
            id: 'p1',
            name: 'Paper one',
            durationMinutes: 22.5,
            questionCount: 10,
            startTime: 1_700_000_000_000,
            endTime: 1_700_003_600_000,
          },
        ],
      }),
    });
    const { gw, platform, paperCalls } = await gatewayWithProvider(fractional);
    try {
      const bind = seal(
        envelopeV2(
          'hire.eco_account.created_v1',
          { scope: 2, account_id: 'acc-2', custom_field_list: [] },
          { token: secrets.verificationToken, tenantKey: 't' },
        ),
        { encryptKey: secrets.encryptKey },
      );
      expect((await post(`${gw.url}/webhook/event`, bind.headers, bind.rawBody)).status).toBe(200);
      for (let i = 0; i < 200 && paperCalls().length < 1; i++) await new Promise((r) => setTimeout(r, 20));
      expect(paperCalls()[0]?.body).toEqual({
        account_id: 'acc-2',
        paper_list: [
          {
            id: 'p1',
            name: 'Paper one',
            duration: 23,
            question_count: 10,
            start_time: '1700000000000',
            end_time: '1700003600000',
          },
        ],
      });
    } finally {
      await gw.close();
      platform.close();
    }
  });
});

describe('account custom fields', () => {
  it('are registered as eco_account_custom_field declares them: is_required always a boolean, i18n names only', async () => {
    const untyped = defineProvider({
      id: 'untyped',
      options: z.object({}),
      create: (_o, _c, id) => ({
        id,
        createExam: async (r) => ({ examUrl: `https://x.example/${r.examId}` }),
        // As a provider package in plain JavaScript may declare them: no `required`, a language Feishu lacks.
        accountFields: [
          { key: 'org', name: { zh_cn: '机构', en_us: 'Org', ja_jp: '組織' } },
          {
            key: 'tag',
            name: { en_us: 'Tag' },
            required: true,
            description: { en_us: 'a hint', fr_fr: 'x' },
          },
        ] as never,
      }),
    });
    const { gw, platform } = await gatewayWithProvider(untyped);
    const registrations = () => platform.calls.filter((c) => c.path.includes('eco_account_custom_fields'));
    try {
      for (let i = 0; i < 200 && registrations().length < 1; i++) await new Promise((r) => setTimeout(r, 20));
      expect(registrations()).toEqual([
        {
          method: 'POST',
          path: '/open-apis/hire/v1/eco_account_custom_fields',
          body: {
            scope: 2,
            custom_field_list: [
              { key: 'org', name: { zh_cn: '机构', en_us: 'Org' }, is_required: false },
              { key: 'tag', name: { en_us: 'Tag' }, is_required: true, description: { en_us: 'a hint' } },
            ],
          },
        },
      ]);
    } finally {
      await gw.close();
      platform.close();
    }
  });
});

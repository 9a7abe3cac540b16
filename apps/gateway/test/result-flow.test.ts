import { createProviderRegistry, defaultProviderContext, defineProvider } from '@feishu-exam/exam-providers';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JobEntity, openStore, type Store } from '../src/store/index.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import { examCreatedEvent, post, startTestGateway, tempDatabaseUrl, testStoreOptions } from './support.js';

const silent = pino({ level: 'silent' });
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
async function freshStore(): Promise<Store> {
  const store = await openStore(tempDatabaseUrl(), silent, testStoreOptions);
  stores.push(store);
  return store;
}

const examEvent = (examId: string) => examCreatedEvent(examId);

async function arrangedExam(store: Store, examId: string, providerId: string) {
  await store.write(async (tx) => {
    await examLifecycle.receive(tx, examEvent(examId), 1);
    await examLifecycle.approve(tx, examId, 'ou_staff', 2);
    await examLifecycle.arrangementMade(tx, examId, providerId, { examUrl: 'https://exam.example/e/1' }, 3);
    await examLifecycle.loginInfoReported(tx, examId, 4);
  });
}

const pendingReports = async (store: Store, examId: string) =>
  (await store.dataSource.getRepository(JobEntity).findBy({ kind: 'report_result', examId })).filter(
    (j) => j.state === 'pending',
  ).length;

/** Marks every job done, as the outbox worker would once it ran them. */
const runAllJobs = (store: Store) => store.write((tx) => tx.run("UPDATE outbox_jobs SET state = 'done'", []));

describe('a changed result is reported again', () => {
  it('a result changed back to an earlier value (A → B → A) is reported: Feishu Hire would keep B', async () => {
    const store = await freshStore();
    await arrangedExam(store, 'r-aba', 'p');
    const a = { score: '60' };
    const b = { score: '75' };
    for (const [result, now] of [
      [a, 10],
      [b, 20],
      [a, 30],
    ] as const) {
      expect(await store.write((tx) => examLifecycle.resultReceived(tx, 'r-aba', 'p', result, now))).toBe(
        'recorded',
      );
      expect(await pendingReports(store, 'r-aba')).toBe(1);
      await runAllJobs(store);
    }
  });

  it('the same result again queues no report', async () => {
    const store = await freshStore();
    await arrangedExam(store, 'r-same', 'p');
    const result = { score: '60', resultTime: 1_700_000_000_000 };
    expect(await store.write((tx) => examLifecycle.resultReceived(tx, 'r-same', 'p', result, 10))).toBe(
      'recorded',
    );
    await runAllJobs(store);
    expect(await store.write((tx) => examLifecycle.resultReceived(tx, 'r-same', 'p', result, 20))).toBe(
      'unchanged',
    );
    expect(await pendingReports(store, 'r-same')).toBe(0);
  });
});

describe('an older result does not overwrite a newer one', () => {
  it('a result produced before the stored one (a late retry, a replayed webhook) is stale and kept out', async () => {
    const store = await freshStore();
    await arrangedExam(store, 'r-late', 'p');
    const newer = { score: '75', resultTime: 2_000 };
    const older = { score: '60', resultTime: 1_000 };
    expect(await store.write((tx) => examLifecycle.resultReceived(tx, 'r-late', 'p', newer, 10))).toBe(
      'recorded',
    );
    await runAllJobs(store);
    expect(await store.write((tx) => examLifecycle.resultReceived(tx, 'r-late', 'p', older, 20))).toBe(
      'stale',
    );
    expect((await store.write((tx) => examLifecycle.find(tx, 'r-late')))?.result).toEqual(newer);
    expect(await pendingReports(store, 'r-late')).toBe(0);
    // A regrade produced later, or one without a time, still overwrites.
    const regraded = { score: '80', resultTime: 3_000 };
    expect(await store.write((tx) => examLifecycle.resultReceived(tx, 'r-late', 'p', regraded, 30))).toBe(
      'recorded',
    );
  });
});

describe('the provider webhook', () => {
  it('a provider that fails with a bug answers 503 provider_unavailable without its internals', async () => {
    const buggy = defineProvider({
      id: 'buggy',
      options: z.object({}),
      create: (_o, _ctx, id) => ({
        id,
        createExam: async () => ({ examUrl: 'https://exam.example/1' }),
        parseResultWebhook: async () => {
          throw new TypeError("Cannot read properties of undefined (reading 'tokenFromVault')");
        },
      }),
    });
    const registry = createProviderRegistry(
      [buggy],
      { providers: [{ id: 'buggy', type: 'buggy' }], defaultProvider: 'buggy' },
      defaultProviderContext({}),
    );
    if (!registry.ok) throw new Error(registry.errors.join());
    const gw = await startTestGateway({}, { providers: registry.registry });
    try {
      const answer = await post(`${gw.url}/webhook/provider/buggy`, {}, '{}');
      expect(answer.status).toBe(503);
      expect(answer.json?.code).toBe('provider_unavailable');
      expect(answer.text).not.toContain('tokenFromVault');
      // The operator still sees what went wrong.
      expect(gw.logLines.join('\n')).toContain('tokenFromVault');
    } finally {
      await gw.close();
    }
  });
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProviderRegistry, defaultProviderContext, defineProvider } from '@feishu-exam/exam-providers';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JobEntity, openStore, type Store } from '../src/store/index.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import {
  examCreatedEvent,
  post,
  rawExchange,
  startTestGateway,
  tempDatabaseUrl,
  testStoreOptions,
} from './support.js';

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

  describe('a body it could not read reaches no provider', () => {
    /** A provider that counts the webhooks given to it: none of these requests may get that far. */
    let parsed = 0;
    const counting = defineProvider({
      id: 'counting',
      options: z.object({}),
      create: (_o, _ctx, id) => ({
        id,
        createExam: async () => ({ examUrl: 'https://exam.example/1' }),
        parseResultWebhook: async () => {
          parsed += 1;
          return [];
        },
      }),
    });
    const startCounting = async () => {
      const registry = createProviderRegistry(
        [counting],
        { providers: [{ id: 'counting', type: 'counting' }], defaultProvider: 'counting' },
        defaultProviderContext({}),
      );
      if (!registry.ok) throw new Error(registry.errors.join());
      return startTestGateway({ MAX_BODY_BYTES: '1024' }, { providers: registry.registry });
    };
    it('a body over MAX_BODY_BYTES → 413 body_too_large; within it, the provider is asked', async () => {
      parsed = 0;
      const gw = await startCounting();
      try {
        const url = `${gw.url}/webhook/provider/counting`;
        const over = await post(url, { 'content-type': 'application/json' }, 'x'.repeat(1025));
        expect(over.status).toBe(413);
        expect(over.json?.code).toBe('body_too_large');
        expect(over.json?.message).toContain('the limit is 1024');
        expect(parsed).toBe(0);
        // The same request within the limit does reach it: the 413 above was the limit's.
        const within = await post(url, { 'content-type': 'application/json' }, 'x'.repeat(1024));
        expect(within.status).toBe(200);
        expect(parsed).toBe(1);
      } finally {
        await gw.close();
      }
    });

    it('a body announced far over the limit → 413, and the connection is closed without reading it', async () => {
      parsed = 0;
      const gw = await startCounting();
      try {
        const answer = await rawExchange(
          gw.url,
          'POST /webhook/provider/counting HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n',
          'wait',
        );
        expect(answer).toMatch(/^HTTP\/1\.1 413 /);
        expect(answer).toMatch(/^connection: close\r$/im);
        expect(answer).toContain('"code":"body_too_large"');
        expect(parsed).toBe(0);
      } finally {
        await gw.close();
      }
    });

    it('a body cut off by the platform hanging up → 400 request_aborted (in the access line), the provider not asked', async () => {
      parsed = 0;
      const gw = await startCounting();
      try {
        await rawExchange(
          gw.url,
          'POST /webhook/provider/counting HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"results": [',
          'hang_up',
        );
        const aborted = () =>
          gw.logs().find((l) => l.msg === 'request' && l.path === '/webhook/provider/counting');
        for (let i = 0; i < 200 && !aborted(); i++) await new Promise((r) => setTimeout(r, 10));
        expect(aborted()).toMatchObject({ status: 400, code: 'request_aborted' });
        expect(parsed).toBe(0);
      } finally {
        await gw.close();
      }
    });
  });
});

// update_result's 1002855 用户已完成阅卷: the customer graded the exam in Hire, which then keeps its grade. An answer,
// not a refused request: buried, the job put a stuck-job card in the staff chat asking to retry what never can.
describe('Feishu Hire answering that the customer has graded the exam already (1002855)', () => {
  it('the result report is done, with a warning, not dead; no stuck-job notice', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url?.includes('tenant_access_token'))
          return res.end(JSON.stringify({ code: 0, msg: 'ok', tenant_access_token: 't-1', expire: 7200 }));
        if (req.url?.endsWith('/update_result')) {
          res.statusCode = 400;
          return res.end(JSON.stringify({ code: 1002855, msg: '用户已完成阅卷' }));
        }
        res.end(JSON.stringify({ code: 0, msg: 'success', data: { message_id: 'om_1' } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const gw = await startTestGateway({
      FEISHU_DOMAIN: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      LOG_LEVEL: 'info',
    });
    try {
      await gw.store.write(async (tx) => {
        await examLifecycle.receive(tx, examEvent('graded-1'), 1);
        await examLifecycle.approve(tx, 'graded-1', 'ou_staff', 2);
        await examLifecycle.arrangementMade(tx, 'graded-1', 'p', { examUrl: 'https://exam.example/e/1' }, 3);
        await examLifecycle.loginInfoReported(tx, 'graded-1', 4);
        await examLifecycle.resultReceived(tx, 'graded-1', 'p', { score: '90' }, 5);
      });
      gw.worker.wake();
      const report = () =>
        gw.store.dataSource.getRepository(JobEntity).findOneBy({ kind: 'report_result', examId: 'graded-1' });
      for (let i = 0; i < 250 && (await report())?.state !== 'done'; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(await report()).toMatchObject({ state: 'done' });
      expect(await gw.store.dataSource.getRepository(JobEntity).countBy({ kind: 'notify_dead' })).toBe(0);
      expect(gw.logLines.some((l) => l.includes('the customer graded this exam in Feishu Hire'))).toBe(true);
    } finally {
      await gw.close();
      server.close();
    }
  });
});

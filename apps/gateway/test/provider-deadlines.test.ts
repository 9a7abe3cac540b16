// How the outbox calls exam platforms: a provider whose call never settles. Fails on the code before
// its fix.
import {
  createProviderRegistry,
  defaultProviderContext,
  defineProvider,
  type ExamProvider,
} from '@feishu-exam/exam-providers';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pushApprovedExam, startTestGateway } from './support.js';

/** A gateway whose one provider is `create`'s, with exam `examId` pushed and approved: the arrangement runs next. */
async function gatewayArranging(
  examId: string,
  create: (id: string) => ExamProvider,
  env: Record<string, string> = {},
) {
  const definition = defineProvider({
    id: 'audited',
    options: z.object({}),
    create: (_o, _ctx, id) => create(id),
  });
  const registry = createProviderRegistry(
    [definition],
    { providers: [{ id: 'audited', type: 'audited' }], defaultProvider: 'audited' },
    defaultProviderContext({}),
  );
  if (!registry.ok) throw new Error(registry.errors.join());
  const gw = await startTestGateway({ LOG_LEVEL: 'info', ...env }, { providers: registry.registry });
  await pushApprovedExam(gw, examId);
  return gw;
}

async function until(check: () => boolean, rounds = 300) {
  for (let i = 0; i < rounds && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

describe('a provider call that never settles', () => {
  it('is given up and retried, not left holding its job (and a worker slot) for ever', async () => {
    let calls = 0;
    // A provider package that declares its call timeout and does not keep to it (a fetch without a signal,
    // a socket that stalls, an SDK with no timeout): its first createExam never settles, the second answers.
    const gw = await gatewayArranging(
      'hang-1',
      (id) => ({
        id,
        callTimeoutMs: 200,
        createExam: async () => {
          calls += 1;
          if (calls === 1) return new Promise(() => undefined);
          return { examUrl: 'https://exam.example/take/1' };
        },
      }),
      { OUTBOX_BASE_DELAY_MS: '10', OUTBOX_MAX_DELAY_MS: '50', PROVIDER_DEADLINE_MS: '1000' },
    );
    try {
      expect(await until(() => calls >= 1)).toBe(true);
      // Up to 6 s for a second attempt: six times the deadline it was given.
      expect(await until(() => calls >= 2), `createExam called ${calls} time(s)`).toBe(true);
    } finally {
      await gw.close();
    }
  }, 20_000);
});

describe('/metrics: exam platform calls', () => {
  it('counts the createExam of an arrangement the outbox runs (feishu_exam_provider_calls_total)', async () => {
    let calls = 0;
    const token = 'metrics-token-0123456789abcdef';
    const gw = await gatewayArranging(
      'metrics-1',
      (id) => ({
        id,
        createExam: async () => {
          calls += 1;
          return { examUrl: 'https://exam.example/take/1' };
        },
      }),
      { METRICS_TOKEN: token },
    );
    try {
      expect(await until(() => calls >= 1)).toBe(true);
      const text = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${token}` } }).then(
        (r) => r.text(),
      );
      const counted = text
        .split('\n')
        .filter(
          (l) => l.startsWith('feishu_exam_provider_calls_total{') && l.includes('method="createExam"'),
        );
      expect(counted).toEqual([expect.stringContaining('outcome="ok"')]);
    } finally {
      await gw.close();
    }
  });
});

// An exam platform's refusal repeating its API key is kept as the exam's failure reason, shown on the staff
// card and sent to the customer's Hire (login_info's msg): it is scrubbed of the process's secrets first (the
// log line already was: keepOutOfLog).

import { envelopeV2, seal } from '@feishu-exam/event-core';
import {
  createProviderRegistry,
  defaultProviderContext,
  defineProvider,
  ProviderError,
} from '@feishu-exam/exam-providers';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import { post, recordingPlatform, secrets, startTestGateway } from './support.js';

const API_KEY = 'leaky-platform-key-0123456789';

async function until(check: () => boolean) {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

describe("echoed back: a platform's refusal repeating its API key", () => {
  it("is sent to the customer's Feishu Hire (login_info msg) without the key", async () => {
    const leaky = defineProvider({
      id: 'leaky',
      options: z.object({}),
      create: (_o, ctx, id) => ({
        id,
        createExam: async () => {
          throw new ProviderError(`invitation refused for api key ${ctx.secret('LEAKY_API_KEY')}`, false, id);
        },
      }),
    });
    const registry = createProviderRegistry(
      [leaky],
      { providers: [{ id: 'leaky', type: 'leaky' }], defaultProvider: 'leaky' },
      defaultProviderContext({ LEAKY_API_KEY: API_KEY }),
    );
    if (!registry.ok) throw new Error(registry.errors.join());
    const feishu = await recordingPlatform();
    const gw = await startTestGateway(
      { LOG_LEVEL: 'info', LEAKY_API_KEY: API_KEY, FEISHU_DOMAIN: feishu.url },
      { providers: registry.registry },
    );
    try {
      const sealed = seal(
        envelopeV2(
          'hire.eco_exam.created_v1',
          { exam_id: 'key-1', candidate_info: { name: 'A' } },
          { token: secrets.verificationToken },
        ),
        { encryptKey: secrets.encryptKey },
      );
      expect((await post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
      await gw.store.write((tx) => examLifecycle.approve(tx, 'key-1', 'ou_staff', Date.now()));
      gw.worker.wake();
      const loginInfo = () => feishu.calls.find((c) => c.path.includes('/login_info'));
      expect(await until(() => loginInfo() !== undefined)).toBe(true);
      // The log is clean (the logger knows the key: keepOutOfLog)…
      expect(gw.logLines.join('\n')).not.toContain(API_KEY);
      // …what went to Feishu is not.
      const sent = feishu.calls.map((c) => `${c.method} ${c.path} ${JSON.stringify(c.body)}`).join('\n');
      expect(sent).not.toContain(API_KEY);
    } finally {
      await gw.close();
      await feishu.close();
    }
  });
});

// A result poll's error repeating the candidate (here a UK number, which the log's net does not know the shape
// of) is masked: the worker masks the candidate in every job's failure, not only the arrangement's.

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

async function until(check: () => boolean) {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  return check();
}

const candidate = { name: 'Poll Candidate', mobile: { code: '44', number: '7700900123' } };

describe('echoed back: a result poll failing with the candidate in its message', () => {
  it("does not log the candidate's (UK) phone number", async () => {
    const known = new Map<string, string>();
    const platform = defineProvider({
      id: 'polled',
      options: z.object({}),
      create: (_o, _ctx, id) => ({
        id,
        createExam: async (request) => {
          known.set(request.examId, `+${request.candidate.mobile?.code} ${request.candidate.mobile?.number}`);
          return { examUrl: 'https://exam.example/x', platformExamId: 'p-1' };
        },
        fetchResult: async (ref) => {
          throw new ProviderError(
            `candidate ${known.get(ref.examId)} has not started the test yet`,
            true,
            id,
          );
        },
      }),
    });
    const registry = createProviderRegistry(
      [platform],
      { providers: [{ id: 'polled', type: 'polled' }], defaultProvider: 'polled' },
      defaultProviderContext({}),
    );
    if (!registry.ok) throw new Error(registry.errors.join());
    const feishu = await recordingPlatform();
    const gw = await startTestGateway(
      { LOG_LEVEL: 'info', FEISHU_DOMAIN: feishu.url, RESULT_POLL_INTERVAL_MS: '200' },
      { providers: registry.registry },
    );
    try {
      const sealed = seal(
        envelopeV2(
          'hire.eco_exam.created_v1',
          { exam_id: 'poll-1', candidate_info: candidate },
          { token: secrets.verificationToken },
        ),
        { encryptKey: secrets.encryptKey },
      );
      expect((await post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
      await gw.store.write((tx) => examLifecycle.approve(tx, 'poll-1', 'ou_staff', Date.now()));
      gw.worker.wake();
      const failed = () =>
        gw.logLines.filter((l) => l.includes('"kind":"poll_result"') && l.includes('failed'));
      expect(await until(() => failed().length > 0)).toBe(true);
      expect(gw.logLines.join('\n')).not.toContain('7700900123');
      expect(gw.logLines.join('\n')).not.toContain('7700 900123');
    } finally {
      await gw.close();
      await feishu.close();
    }
  });
});

// A candidate's phone or email that an exam platform's error repeats in another form than Feishu sent it
// (grouped with spaces or dashes, with the country code, percent-encoded in a URL path) is masked before it
// is logged (log.ts maskCandidateIn). It used to match the exact string only, and the log's net knows only a
// bare 11-digit mainland number and a literal `@`.
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
import { post, secrets, startTestGateway } from './support.js';

async function until(check: () => boolean) {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

/** Feishu sends the mainland number bare; the platform answers with it formatted (and the email in a URL path). */
const candidate = {
  name: 'Format Candidate',
  mobile: { code: '86', number: '13800138000' },
  email: 'format.candidate@example.org',
};

async function run(echo: (c: typeof candidate) => string, retryable: boolean) {
  const platform = defineProvider({
    id: 'echoing',
    options: z.object({}),
    create: (_o, _ctx, id) => ({
      id,
      createExam: async () => {
        throw new ProviderError(echo(candidate), retryable, id);
      },
    }),
  });
  const registry = createProviderRegistry(
    [platform],
    { providers: [{ id: 'echoing', type: 'echoing' }], defaultProvider: 'echoing' },
    defaultProviderContext({}),
  );
  if (!registry.ok) throw new Error(registry.errors.join());
  const gw = await startTestGateway({ LOG_LEVEL: 'info' }, { providers: registry.registry });
  try {
    const sealed = seal(
      envelopeV2(
        'hire.eco_exam.created_v1',
        { exam_id: 'fmt-1', candidate_info: candidate },
        { token: secrets.verificationToken },
      ),
      { encryptKey: secrets.encryptKey },
    );
    expect((await post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
    await gw.store.write((tx) => examLifecycle.approve(tx, 'fmt-1', 'ou_staff', Date.now()));
    gw.worker.wake();
    const marker = retryable ? 'job failed; will retry' : 'the exam platform refused the arrangement';
    expect(await until(() => gw.logLines.some((l) => l.includes(marker)))).toBe(true);
    return gw.logLines.filter((l) => l.includes(marker)).join('\n');
  } finally {
    await gw.close();
  }
}

const reasonOf = (lines: string) =>
  lines
    .split('\n')
    .map((l) => JSON.parse(l) as { reason?: string; error?: string })
    .map((l) => l.reason ?? l.error ?? '')
    .join('\n');

describe('echoed back: a platform error repeating the candidate in another format', () => {
  for (const shown of ['+86 138 0013 8000', '+86-138-0013-8000', '138 0013 8000']) {
    it(`phone written as "${shown}": masked in the refused arrangement's warn line`, async () => {
      const lines = await run(() => `candidate ${shown} is already invited to this test`, false);
      expect(reasonOf(lines).replace(/\D/g, ''), 'the digits of the logged reason').not.toContain(
        '13800138000',
      );
    });
  }

  it('email percent-encoded in a URL path the platform echoes: masked', async () => {
    const lines = await run(
      (c) => `GET /v1/candidates/${encodeURIComponent(c.email)} answered 409 Conflict`,
      false,
    );
    expect(decodeURIComponent(lines)).not.toContain('format.candidate@example.org');
  });
});

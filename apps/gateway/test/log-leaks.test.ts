// Secrets and personal data that reached log lines through text: an exam platform's error repeating the
// candidate it was given, or its own API key. Each test failed on the code before its fix.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

const API_KEY = 'leaky-platform-key-0123456789';
const candidate = {
  name: 'Leaky Candidate',
  mobile: { code: '44', number: '7700900123' },
  email: 'leaky.candidate@example.org',
};

async function until(check: () => boolean) {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

describe("an exam platform's error that repeats what it was given", () => {
  it("is logged without the candidate's email or phone (any country) and without the platform's API key", async () => {
    const leaky = defineProvider({
      id: 'leaky',
      options: z.object({}),
      create: (_o, ctx, id) => ({
        id,
        createExam: async (request) => {
          const { email, mobile } = request.candidate;
          throw new ProviderError(
            `candidate ${email} (+${mobile?.code} ${mobile?.number}) already invited; api key ${ctx.secret('LEAKY_API_KEY')}`,
            false,
            id,
          );
        },
      }),
    });
    const registry = createProviderRegistry(
      [leaky],
      { providers: [{ id: 'leaky', type: 'leaky' }], defaultProvider: 'leaky' },
      defaultProviderContext({ LEAKY_API_KEY: API_KEY }),
    );
    if (!registry.ok) throw new Error(registry.errors.join());
    const gw = await startTestGateway(
      { LOG_LEVEL: 'trace', LEAKY_API_KEY: API_KEY },
      { providers: registry.registry },
    );
    try {
      const sealed = seal(
        envelopeV2(
          'hire.eco_exam.created_v1',
          { exam_id: 'leak-1', candidate_info: candidate },
          { token: secrets.verificationToken },
        ),
        { encryptKey: secrets.encryptKey },
      );
      expect((await post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
      await gw.store.write((tx) => examLifecycle.approve(tx, 'leak-1', 'ou_staff', Date.now()));
      gw.worker.wake();
      const refused = () => gw.logLines.some((l) => l.includes('the exam platform refused the arrangement'));
      expect(await until(refused)).toBe(true);
      const text = gw.logLines.join('\n');
      for (const leaked of [API_KEY, 'leaky.candidate@', '7700900123'])
        expect(text, `${leaked} in the log`).not.toContain(leaked);
      // What went wrong still shows.
      expect(text).toContain('already invited');
    } finally {
      await gw.close();
    }
  });
});

describe("a provider's secret whose variable's name does not say it is one", () => {
  it('is written out of every log line once the provider has read it (QUIZLY_PIN, not *_KEY or *_SECRET)', async () => {
    const PIN = 'quizly-pin-2718281828';
    const file = join(mkdtempSync(join(tmpdir(), 'feishu-exam-providers-')), 'providers.yaml');
    writeFileSync(
      file,
      [
        'defaultProvider: quizly',
        'providers:',
        '  - id: quizly',
        '    type: http',
        '    options:',
        '      baseUrl: https://api.quizly.example',
        '      headers:',
        '        x-pin: "{{secrets.QUIZLY_PIN}}"',
        '      createExam:',
        '        path: /sittings',
        '        body: { reference: "{{exam.id}}" }',
        '        response: { examUrl: $.url }',
        '',
      ].join('\n'),
    );
    // Read by the provider from the process's environment, as in production.
    process.env.QUIZLY_PIN = PIN;
    const gw = await startTestGateway({ LOG_LEVEL: 'info', PROVIDERS_FILE: file });
    try {
      // The access log writes a refused request's path: here, one that carries the secret.
      const response = await fetch(`${gw.url}/leak/${PIN}`);
      expect(response.status).toBe(404);
      expect(await until(() => gw.logLines.some((l) => l.includes('/leak/')))).toBe(true);
      expect(gw.logLines.join('\n')).not.toContain(PIN);
    } finally {
      await gw.close();
      delete process.env.QUIZLY_PIN;
    }
  });
});

// The example from docs/adding-a-provider.md: "Acme Assess" as a provider in code. In a real project this
// file is its own package that depends on @feishu-exam/exam-providers.
import { defineProvider, type ExamRequest, ProviderError } from '@feishu-exam/exam-providers';
import { z } from 'zod';

export const acmeProvider = defineProvider({
  id: 'acme',
  // Options are validated once, at start; a mistake names the provider and the option.
  options: z
    .object({
      apiUrl: z.url(),
      /** The name of the environment variable holding the API key (the key itself never sits in config). */
      apiKeySecret: z.string().default('ACME_API_KEY'),
      timeoutMs: z.number().int().positive().default(10_000),
    })
    .strict(),
  create(options, ctx, instanceId) {
    const apiKey = ctx.secret(options.apiKeySecret);
    if (!apiKey) throw new Error(`the secret ${options.apiKeySecret} is not set in the environment`);

    async function post(path: string, body: unknown) {
      let response: Response;
      try {
        response = await ctx.fetch(new URL(path, options.apiUrl), {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': apiKey as string },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (err) {
        throw new ProviderError('Acme Assess did not answer', true, instanceId, { cause: err });
      }
      // 429 and 5xx are worth retrying; anything else will not get better by itself.
      if (!response.ok)
        throw new ProviderError(
          `Acme Assess answered HTTP ${response.status}`,
          response.status === 429 || response.status >= 500,
          instanceId,
        );
      return (await response.json()) as Record<string, unknown>;
    }

    return {
      id: instanceId,
      accountFields: [
        { key: 'acme_org', name: { zh_cn: 'Acme 机构号', en_us: 'Acme organization id' }, required: true },
      ],
      async createExam(request: ExamRequest) {
        // Acme deduplicates on `reference`, so arranging the same exam twice returns the same sitting.
        const sitting = await post('/sittings', {
          reference: request.examId,
          test: request.paperId,
          org: request.account?.fields.acme_org,
          candidate: { name: request.candidate.name, email: request.candidate.email },
        });
        return { examUrl: String(sitting.url), platformExamId: String(sitting.id) };
      },
    };
  },
});

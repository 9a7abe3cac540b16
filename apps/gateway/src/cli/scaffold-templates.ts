// The files of a new provider package, as `feishu-exam providers scaffold` writes them. The package passes
// its own test (the conformance kit against its fake platform) before anything in it is changed.

export interface ScaffoldNames {
  /** The npm package name: "feishu-exam-provider-testlab", "@acme/feishu-exam-provider-testlab". */
  readonly packageName: string;
  /** The provider id (its type name): "testlab". */
  readonly id: string;
  /** For identifiers: "Testlab". */
  readonly pascal: string;
  /** The environment variable holding the API key: "TESTLAB_API_KEY". */
  readonly apiKeyEnv: string;
  /** The version range of @feishu-exam/exam-providers to peer on. */
  readonly contractRange: string;
}

export function scaffoldFiles(n: ScaffoldNames): Record<string, string> {
  return {
    'package.json': `${JSON.stringify(
      {
        name: n.packageName,
        version: '0.1.0',
        description: `${n.pascal} as a feishu-exam provider package`,
        keywords: ['feishu-exam-provider'],
        type: 'module',
        exports: {
          '.': { types: './dist/index.d.ts', default: './dist/index.js' },
          './fake': { types: './dist/fake.d.ts', default: './dist/fake.js' },
        },
        files: ['dist'],
        scripts: {
          build: 'tsc -p tsconfig.build.json',
          typecheck: 'tsc -p tsconfig.json --noEmit',
          test: 'vitest run',
          prepublishOnly: 'npm run build',
        },
        peerDependencies: { '@feishu-exam/exam-providers': n.contractRange, zod: '^4.0.0' },
        devDependencies: {
          '@feishu-exam/exam-providers': n.contractRange,
          '@types/node': '^20.19.0',
          typescript: '^5.9.0',
          vitest: '^4.1.0',
          zod: '^4.0.0',
        },
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: ['node'],
          strict: true,
          noUncheckedIndexedAccess: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          declaration: true,
          noEmit: true,
        },
        include: ['src', 'test'],
      },
      null,
      2,
    )}\n`,
    'tsconfig.build.json': `${JSON.stringify(
      {
        extends: './tsconfig.json',
        compilerOptions: { noEmit: false, rootDir: 'src', outDir: 'dist' },
        include: ['src'],
      },
      null,
      2,
    )}\n`,
    '.gitignore': 'node_modules\ndist\n',
    'README.md': readme(n),
    'src/index.ts': index(n),
    'src/fake.ts': fake(n),
    'test/conformance.test.ts': conformanceTest(n),
  };
}

const readme = (n: ScaffoldNames) => `# ${n.packageName}

${n.pascal} as a [feishu-exam](https://www.npmjs.com/package/@feishu-exam/exam-providers) provider package.

\`\`\`sh
npm install && npm test          # the conformance kit against the fake ${n.pascal} in src/fake.ts
npm run build && npm publish
\`\`\`

Use it: install it next to the gateway's providers file (\`npm install ${n.packageName}\`) and name it there:

\`\`\`yaml
providers:
  - id: ${n.id}
    package: "${n.packageName}"
    options:
      baseUrl: https://api.${n.id}.example
      # apiKeySecret: ${n.apiKeyEnv}   (the environment variable holding the API key)
\`\`\`

\`feishu-exam providers check providers.yaml\` checks the file as the gateway's start would;
\`feishu-exam providers test providers.yaml --provider ${n.id} --paper <paper> --email <you@example.com>\` runs the
conformance kit against the live (staging) platform.

To adapt it to the real API: change the calls in \`src/index.ts\` (each says which request it makes and which
answer it reads), then the fake in \`src/fake.ts\` to answer as the real platform does, until \`npm test\` passes.
`;

const index = (
  n: ScaffoldNames,
) => `// ${n.pascal} as a feishu-exam provider: the default export is the factory the gateway loads for
// \`package: "${n.packageName}"\` in its providers file.
import {
  defineProvider,
  type ExamResult,
  OptionsError,
  ProviderError,
} from '@feishu-exam/exam-providers';
import { z } from 'zod';

/** The options a providers file gives; validated once, at the gateway's start. */
export const ${n.id.replace(/[-_](.)/g, (_, c: string) => c.toUpperCase())}Options = z
  .object({
    baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    /** The environment variable holding the API key: never the key itself in a file. */
    apiKeySecret: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*$/, 'must be an environment variable name')
      .default('${n.apiKeyEnv}'),
    timeoutMs: z.number().int().positive().max(60_000).default(10_000),
  })
  .strict();

/** What ${n.pascal} answers for a sitting (TODO: the real API's shape). */
const sittingSchema = z.object({
  id: z.string(),
  url: z.string(),
  status: z.enum(['pending', 'finished']),
  score: z.number().optional(),
  finishedAt: z.string().optional(),
  reportUrl: z.string().optional(),
});

export default defineProvider({
  id: '${n.id}',
  options: ${n.id.replace(/[-_](.)/g, (_, c: string) => c.toUpperCase())}Options,
  create(options, ctx, instanceId) {
    const apiKey = ctx.secret(options.apiKeySecret);
    if (!apiKey)
      throw new OptionsError([
        { path: ['apiKeySecret'], message: \`the secret \${options.apiKeySecret} is not set in the environment\` },
      ]);

    async function call(method: 'GET' | 'POST', path: string, body?: unknown) {
      let response: Response;
      try {
        response = await ctx.fetch(new URL(path, options.baseUrl), {
          method,
          headers: { authorization: \`Bearer \${apiKey}\`, 'content-type': 'application/json' },
          body: body === undefined ? null : JSON.stringify(body),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (err) {
        // Unreachable or timed out: worth retrying. The message is shown to staff: no secrets in it.
        throw new ProviderError(\`${n.pascal} could not be reached\`, true, instanceId, { cause: err });
      }
      if (response.status === 401 || response.status === 403)
        throw new ProviderError(\`${n.pascal} refused the API key: check \${options.apiKeySecret}\`, false, instanceId);
      if (!response.ok)
        throw new ProviderError(
          \`${n.pascal} answered HTTP \${response.status}\`,
          response.status === 429 || response.status >= 500,
          instanceId,
        );
      const parsed = sittingSchema.safeParse(await response.json().catch(() => undefined));
      if (!parsed.success) throw new ProviderError(\`${n.pascal} answered in an unknown shape\`, false, instanceId);
      return parsed.data;
    }

    return {
      id: instanceId,
      callTimeoutMs: options.timeoutMs,
      // Feishu's exam id is the idempotency key: arranging the same exam again must give the same sitting.
      async createExam(request) {
        if (!request.paperId) throw new ProviderError('the exam names no paper', false, instanceId);
        const sitting = await call('POST', '/api/sittings', {
          reference: request.examId,
          test: request.paperId,
          name: request.candidate.name,
          email: request.candidate.email,
        });
        return { examUrl: sitting.url, platformExamId: sitting.id };
      },
      // Polled by the gateway: undefined until the candidate has finished.
      async fetchResult(ref): Promise<ExamResult | undefined> {
        const sitting = await call('GET', \`/api/sittings/\${encodeURIComponent(ref.platformExamId ?? ref.examId)}\`);
        if (sitting.status !== 'finished' || sitting.score === undefined) return undefined;
        return {
          score: String(sitting.score),
          ...(sitting.finishedAt ? { resultTime: Date.parse(sitting.finishedAt) } : {}),
          ...(sitting.reportUrl ? { reports: [{ name: '${n.pascal} report', url: sitting.reportUrl }] } : {}),
        };
      },
    };
  },
});
`;

const fake = (
  n: ScaffoldNames,
) => `// A local ${n.pascal} for tests, answering as the real API does (TODO: make it answer as the real one).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Fake${n.pascal} {
  readonly url: string;
  readonly apiKey: string;
  /** The candidate finishes: the sitting has a score from now on. */
  finish(sittingId: string, score: number): void;
  close(): Promise<void>;
}

interface Sitting {
  id: string;
  url: string;
  test: string;
  finished?: { score: number; at: string };
}

export async function startFake${n.pascal}(options: { apiKey: string }): Promise<Fake${n.pascal}> {
  const sittings = new Map<string, Sitting>();
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.headers.authorization !== \`Bearer \${options.apiKey}\`) return res.writeHead(401).end('{}');
      const view = (s: Sitting) =>
        JSON.stringify({
          id: s.id,
          url: s.url,
          status: s.finished ? 'finished' : 'pending',
          ...(s.finished
            ? { score: s.finished.score, finishedAt: s.finished.at, reportUrl: \`https://${n.id}.example/report/\${s.id}\` }
            : {}),
        });
      if (req.method === 'POST' && req.url === '/api/sittings') {
        const body = JSON.parse(text) as { reference: string; test: string };
        if (body.test === 'missing') return res.writeHead(404).end('{}');
        const sitting = sittings.get(body.reference) ?? {
          id: \`s-\${sittings.size + 1}\`,
          url: \`https://${n.id}.example/take/\${encodeURIComponent(body.reference)}\`,
          test: body.test,
        };
        sittings.set(body.reference, sitting);
        return res.end(view(sitting));
      }
      const sitting = [...sittings.values()].find((s) => req.url === \`/api/sittings/\${s.id}\`);
      if (req.method === 'GET' && sitting) return res.end(view(sitting));
      return res.writeHead(404).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: \`http://127.0.0.1:\${(server.address() as AddressInfo).port}\`,
    apiKey: options.apiKey,
    finish(sittingId, score) {
      const sitting = [...sittings.values()].find((s) => s.id === sittingId);
      if (sitting) sitting.finished = { score, at: new Date().toISOString() };
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
`;

const conformanceTest = (
  n: ScaffoldNames,
) => `import { runProviderConformance } from '@feishu-exam/exam-providers/conformance';
import { afterAll } from 'vitest';
import { startFake${n.pascal} } from '../src/fake.js';
import provider from '../src/index.js';

const fake = await startFake${n.pascal}({ apiKey: 'test-key-0123456789' });
afterAll(() => fake.close());

const request = {
  examId: 'exam-1',
  paperId: 'test-1',
  candidate: { name: 'Test Candidate', email: 'candidate@example.com' },
};

runProviderConformance(provider, {
  options: { baseUrl: fake.url },
  invalidOptions: [{}, { baseUrl: 'ftp://x.example' }, { baseUrl: fake.url, colour: 'blue' }],
  request,
  context: { secret: (name) => (name === '${n.apiKeyEnv}' ? fake.apiKey : name === 'WRONG_KEY' ? 'wrong' : undefined) },
  failures: [
    { name: 'no such test (404)', request: { ...request, paperId: 'missing' }, retryable: false },
    { name: 'the exam has no paper', request: { ...request, paperId: undefined }, retryable: false },
    { name: 'a wrong API key (401)', options: { baseUrl: fake.url, apiKeySecret: 'WRONG_KEY' }, retryable: false },
    { name: 'nobody answers', options: { baseUrl: 'http://127.0.0.1:9' }, retryable: true },
  ],
  results: {
    ref: ({ platformExamId }) => {
      fake.finish(String(platformExamId), 87.5);
      return { examId: request.examId, platformExamId };
    },
  },
});
`;

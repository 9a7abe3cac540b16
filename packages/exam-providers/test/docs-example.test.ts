import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { acmeProvider } from '../examples/acme-provider.js';
import { runProviderConformance } from '../src/conformance.js';
import { builtInProviders, defineProvider, loadProvidersFile } from '../src/index.js';

// A fake "Acme Assess": deduplicates on reference, refuses a retired test, is down for test "down".
const sittings = new Map<string, { id: string; url: string }>();
const acme = createServer((req, res) => {
  let text = '';
  req.on('data', (c) => {
    text += c;
  });
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.headers['x-api-key'] !== 'acme-key') return res.writeHead(401).end('{}');
    const body = JSON.parse(text) as { reference: string; test?: string };
    if (body.test === 'down') return res.writeHead(502).end('{}');
    if (body.test === 'retired') return res.writeHead(410).end('{}');
    const sitting = sittings.get(body.reference) ?? {
      id: `s-${sittings.size + 1}`,
      url: `https://take.acme-assess.example/${body.reference}`,
    };
    sittings.set(body.reference, sitting);
    res.end(JSON.stringify(sitting));
  });
});
await new Promise<void>((r) => acme.listen(0, '127.0.0.1', r));
afterAll(() => acme.close());
const apiUrl = `http://127.0.0.1:${(acme.address() as AddressInfo).port}`;
const context = { secret: (name: string) => (name === 'ACME_API_KEY' ? 'acme-key' : undefined) };
const request = {
  examId: 'exam-doc-1',
  paperId: 'java-101',
  candidate: { name: '王二', email: 'xxx@abc.vom' },
  account: { accountId: 'a', fields: { acme_org: 'ORG-7' } },
};
const failures = [
  { name: 'Acme is down (502)', request: { ...request, paperId: 'down' }, retryable: true },
  { name: 'a retired test (410)', request: { ...request, paperId: 'retired' }, retryable: false },
];

// The code example.
runProviderConformance(acmeProvider, {
  options: { apiUrl },
  invalidOptions: [{}, { apiUrl: 'nope' }, { apiUrl, extra: 1 }],
  request,
  context,
  failures,
});

// The YAML example, loaded as the gateway loads PROVIDERS_FILE, pointed at the fake.
const yaml = readFileSync(new URL('../examples/acme.providers.yaml', import.meta.url), 'utf8').replace(
  'https://api.acme-assess.example',
  apiUrl,
);
const loaded = loadProvidersFile(yaml, 'acme.providers.yaml', builtInProviders, {
  fetch,
  now: Date.now,
  ...context,
});
if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
const declared = loaded.registry.get('acme');
const fromYaml = defineProvider({
  id: 'acme-yaml',
  options: acmeProvider.options.partial(),
  create: () => declared!,
});
runProviderConformance(fromYaml, { options: {}, invalidOptions: [], request, context, failures });

describe('the docs examples', () => {
  it('arrange the same exam the same way, in code and in YAML', async () => {
    const built = acmeProvider.build({ apiUrl }, { fetch, now: Date.now, ...context });
    if (!built.ok) throw new Error(built.errors.join());
    const fromCode = await built.provider.createExam({ ...request, examId: 'same' });
    expect(await declared?.createExam({ ...request, examId: 'same' })).toEqual({
      ...fromCode,
      username: undefined,
      password: undefined,
    });
  });
});

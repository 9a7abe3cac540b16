import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runProviderConformance } from '../src/conformance.js';
import {
  builtInProviders,
  httpProvider,
  isProviderError,
  loadProvidersFile,
  type ProviderError,
} from '../src/index.js';

/** A fake exam platform ("ACME"), answering in its own shapes; idempotent per exam, as real ones are. */
const invitations = new Map<string, string>();
const fake = createServer((req, res) => {
  let text = '';
  req.on('data', (c) => {
    text += c;
  });
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.headers.authorization !== 'Bearer acme-token-123')
      return res.writeHead(401).end('{"error":"unauthorized"}');
    if (req.method === 'GET' && req.url === '/v1/tests?org=ACME-001') {
      return res.end(
        JSON.stringify({
          data: {
            tests: [
              { id: 't-1', title: 'Java basics', minutes: 45 },
              { id: 't-2', title: 'SQL', minutes: 30 },
            ],
          },
        }),
      );
    }
    if (req.method === 'POST' && req.url === '/v1/invitations') {
      const body = JSON.parse(text) as {
        exam: string;
        test: string;
        email?: string;
        name?: string;
        org?: string;
      };
      if (body.test === 'down') return res.writeHead(503).end('{"error":"maintenance"}');
      if (body.test === 'retired') return res.writeHead(422).end('{"error":"test retired"}');
      const url = invitations.get(body.exam) ?? `https://acme.example/take/${body.exam}-${invitations.size}`;
      invitations.set(body.exam, url);
      return res.end(
        JSON.stringify({ invitation: { link: url, id: `inv-${body.exam}`, login: body.email } }),
      );
    }
    res.writeHead(404).end('{}');
  });
});
await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
afterAll(() => fake.close());
const baseUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;

const options = {
  baseUrl,
  headers: { authorization: 'Bearer {{secrets.ACME_TOKEN}}' },
  accountFields: [{ key: 'org_code', name: { en_us: 'ACME organization' }, required: true }],
  createExam: {
    path: '/v1/invitations',
    body: {
      exam: '{{exam.id}}',
      test: '{{exam.paperId}}',
      email: '{{candidate.email}}',
      name: '{{candidate.name}}',
      org: '{{account.fields.org_code}}',
    },
    response: {
      examUrl: '$.invitation.link',
      platformExamId: '$.invitation.id',
      username: '$.invitation.login',
    },
  },
  listPapers: {
    path: '/v1/tests?org={{account.fields.org_code}}',
    response: { items: '$.data.tests', id: '$.id', name: '$.title', durationMinutes: '$.minutes' },
  },
};
const context = { secret: (name: string) => (name === 'ACME_TOKEN' ? 'acme-token-123' : undefined) };
const request = {
  examId: 'exam-1',
  paperId: 't-1',
  candidate: { name: '王二', email: 'xxx@abc.vom' },
  account: { accountId: 'acc-1', fields: { org_code: 'ACME-001' } },
};

runProviderConformance(httpProvider, {
  options,
  invalidOptions: [
    { baseUrl },
    { ...options, baseUrl: 'not a url' },
    { ...options, createExam: { ...options.createExam, response: { examUrl: 'invitation.link' } } },
  ],
  request,
  context,
  failures: [
    { name: 'the platform is down (503)', request: { ...request, paperId: 'down' }, retryable: true },
    { name: 'the platform refuses (422)', request: { ...request, paperId: 'retired' }, retryable: false },
    { name: 'nobody answers', options: { ...options, baseUrl: 'http://127.0.0.1:9' }, retryable: true },
  ],
});

describe('http provider', () => {
  const build = (o: unknown, ctx = context) => httpProvider.build(o, { fetch, now: Date.now, ...ctx });

  it('fills templates from the exam, the candidate and the account, and maps the answer by JSON paths', async () => {
    const built = build(options);
    if (!built.ok) throw new Error(built.errors.join());
    expect(await built.provider.createExam({ ...request, examId: 'exam-map' })).toEqual({
      examUrl: expect.stringMatching(/^https:\/\/acme\.example\/take\/exam-map-/),
      platformExamId: 'inv-exam-map',
      username: 'xxx@abc.vom',
      password: undefined,
    });
    expect(await built.provider.listPapers?.(request.account)).toEqual([
      { id: 't-1', name: 'Java basics', durationMinutes: 45, questionCount: undefined },
      { id: 't-2', name: 'SQL', durationMinutes: 30, questionCount: undefined },
    ]);
    expect(built.provider.accountFields).toEqual([
      { key: 'org_code', name: { en_us: 'ACME organization' }, required: true },
    ]);
  });

  it('refuses at start: unknown template variables and missing secrets, with the option path', () => {
    const bad = build(
      {
        ...options,
        createExam: { ...options.createExam, body: { who: '{{candidate.age}}', x: '{{nope.y}}' } },
      },
      { secret: () => undefined },
    );
    expect(bad.ok).toBe(false);
    const errors = bad.ok ? [] : bad.errors;
    expect(errors).toContainEqual(
      expect.stringMatching(
        /options\.createExam\.body: .*unknown variable \{\{candidate\.age\}\}; candidate has name, email/,
      ),
    );
    expect(errors).toContainEqual(expect.stringMatching(/unknown variable \{\{nope\.y\}\}/));
    expect(errors).toContainEqual(
      expect.stringMatching(/options\.headers: the secret ACME_TOKEN is not set in the environment/),
    );
  });
});

describe('providers file', () => {
  const ctx = { fetch, now: Date.now, ...context };

  it('builds a registry from YAML', () => {
    const yaml = `defaultProvider: acme\nproviders:\n  - id: acme\n    type: http\n    papers: [t-1]\n    options: ${JSON.stringify(options)}\n  - id: sandbox\n    type: sandbox\n`;
    const result = loadProvidersFile(yaml, 'providers.yaml', builtInProviders, ctx);
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect([...result.registry.providers.keys()]).toEqual(['acme', 'sandbox']);
    expect(result.registry.route({ paperId: 'other' })).toMatchObject({
      ok: true,
      via: 'default',
      provider: { id: 'acme' },
    });
  });

  it('a broken file fails with the file, the line and what to fix: bad template, unknown field, missing secret, syntax', () => {
    const yaml = [
      'providers:',
      '  - id: acme',
      '    type: http',
      '    options:',
      `      baseUrl: ${baseUrl}`,
      '      headers:',
      '        authorization: Bearer {{secrets.MISSING_TOKEN}}',
      '      createExam:',
      '        path: /v1/invitations',
      '        body:',
      '          who: "{{candidate.shoe_size}}"',
      '        response:',
      '          examUrl: $.invitation.link',
      '          colour: $.x',
      '  - id: other',
      '    type: sandbox',
      '    flavour: vanilla',
    ].join('\n');
    const result = loadProvidersFile(yaml, 'providers.yaml', builtInProviders, {
      ...ctx,
      secret: () => undefined,
    });
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors;
    expect(errors).toContainEqual(
      expect.stringMatching(/^providers\.yaml:17: providers\.1\.flavour: Unrecognized key: "flavour"/),
    );
    const fixed = yaml.replace('    flavour: vanilla\n', '').replace('\n    flavour: vanilla', '');
    const second = loadProvidersFile(fixed, 'providers.yaml', builtInProviders, {
      ...ctx,
      secret: () => undefined,
    });
    const errors2 = second.ok ? [] : second.errors;
    expect(errors2).toContainEqual(
      expect.stringMatching(
        /^providers\.yaml:14: provider acme \(http\): options\.createExam\.response\.colour: Unrecognized key: "colour"/,
      ),
    );
    const third = loadProvidersFile(
      fixed.replace('          colour: $.x\n', ''),
      'providers.yaml',
      builtInProviders,
      { ...ctx, secret: () => undefined },
    );
    const errors3 = third.ok ? [] : third.errors;
    expect(errors3).toContainEqual(
      expect.stringMatching(
        /^providers\.yaml:7: provider acme \(http\): options\.headers: the secret MISSING_TOKEN is not set/,
      ),
    );
    expect(errors3).toContainEqual(
      expect.stringMatching(
        /^providers\.yaml:11: provider acme \(http\): options\.createExam\.body: .*\{\{candidate\.shoe_size\}\}/,
      ),
    );
    const syntax = loadProvidersFile('providers:\n  - id: [unclosed\n', 'broken.yaml', builtInProviders, ctx);
    expect(syntax.ok ? [] : syntax.errors).toContainEqual(expect.stringMatching(/^broken\.yaml:\d+: /));
  });
});

describe('http provider: template values never bend the request', () => {
  /** A platform that records every request and answers like ACME; nothing reaches the network. */
  function recording() {
    const calls: Array<{ url: URL; headers: Headers }> = [];
    const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: new URL(String(input)), headers: new Headers(init?.headers) });
      return new Response(
        JSON.stringify({
          invitation: { link: 'https://acme.example/take/1', id: 'inv-1' },
          data: { tests: [] },
        }),
      );
    }) as typeof globalThis.fetch;
    return { calls, fetch };
  }
  const API = 'https://api.acme.example/api/v2';
  const sittings = (path: string, extra: Record<string, unknown> = {}) => ({
    baseUrl: API,
    headers: { 'x-api-key': '{{secrets.ACME_TOKEN}}' },
    createExam: { path, response: { examUrl: '$.invitation.link' }, ...extra },
  });
  const withOrg = (org: string) => ({
    ...request,
    account: { accountId: 'acc-1', fields: { org_code: org } },
  });
  function buildWith(options: unknown) {
    const platform = recording();
    const built = httpProvider.build(options, { fetch: platform.fetch, now: Date.now, ...context });
    if (!built.ok) throw new Error(built.errors.join());
    return { provider: built.provider, calls: platform.calls };
  }
  async function refused(promise: Promise<unknown>, value: string) {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isProviderError(error), String(error)).toBe(true);
    expect((error as ProviderError).retryable).toBe(false);
    expect((error as ProviderError).message).not.toContain(value);
    return (error as ProviderError).message;
  }

  it('a path placeholder is one segment: "ORG1/../../../admin/wipe-all#" cannot reach /admin/wipe-all', async () => {
    const { provider, calls } = buildWith(sittings('/orgs/{{account.fields.org_code}}/sittings'));
    await provider.createExam(withOrg('ORG1/../../../admin/wipe-all#'));
    expect(calls).toHaveLength(1);
    const url = calls[0]?.url as URL;
    expect(url.origin).toBe('https://api.acme.example');
    expect(url.pathname).toBe('/api/v2/orgs/ORG1%2F..%2F..%2F..%2Fadmin%2Fwipe-all%23/sittings');
    expect(url.hash).toBe('');
    expect(url.search).toBe('');
  });

  it('a path placeholder cannot start a query: "ORG1?admin=1&x=" stays in its segment', async () => {
    const { provider, calls } = buildWith(sittings('/orgs/{{account.fields.org_code}}/sittings'));
    await provider.createExam(withOrg('ORG1?admin=1&x='));
    const url = calls[0]?.url as URL;
    expect(url.pathname).toBe('/api/v2/orgs/ORG1%3Fadmin%3D1%26x%3D/sittings');
    expect(url.search).toBe('');
  });

  it('"\\\\127.0.0.1:18301" at the start of a path cannot send the request, or the API key, to another host', async () => {
    for (const path of ['{{account.fields.org_code}}/sittings', '/{{account.fields.org_code}}/sittings']) {
      const { provider, calls } = buildWith(sittings(path));
      await provider.createExam(withOrg('\\\\127.0.0.1:18301'));
      const url = calls[0]?.url as URL;
      expect(url.host).toBe('api.acme.example');
      expect(url.pathname).toBe('/api/v2/%5C%5C127.0.0.1%3A18301/sittings');
      expect(calls[0]?.headers.get('x-api-key')).toBe('acme-token-123');
    }
  });

  it('a query placeholder is one query value: it cannot add parameters or a fragment', async () => {
    const { provider, calls } = buildWith({
      ...sittings('/sittings'),
      listPapers: {
        path: '/tests?org={{account.fields.org_code}}&active=1',
        response: { items: '$.data.tests', id: '$.id', name: '$.title' },
      },
    });
    await provider.listPapers?.(withOrg('ORG1?admin=1&x=#frag').account);
    const url = calls[0]?.url as URL;
    expect(url.pathname).toBe('/api/v2/tests');
    expect([...url.searchParams]).toEqual([
      ['org', 'ORG1?admin=1&x=#frag'],
      ['active', '1'],
    ]);
    expect(url.hash).toBe('');
  });

  it('"." and ".." as a path value are refused for good, unsent, without the value in the message', async () => {
    const { provider, calls } = buildWith(sittings('/orgs/{{account.fields.org_code}}/sittings'));
    for (const value of ['..', '.']) {
      const message = await refused(provider.createExam(withOrg(value)), 'x-never-there');
      expect(message).toMatch(
        /createExam request is refused: \{\{account\.fields\.org_code\}\} is a "\." or "\.\."/,
      );
    }
    expect(calls).toHaveLength(0);
  });

  it('a URL that would leave baseUrl’s origin or path prefix is refused, and nothing is sent', async () => {
    const { provider, calls } = buildWith(sittings('/{{exam.id}}/../../../admin'));
    const message = await refused(provider.createExam({ ...request, examId: 'exam-77' }), 'exam-77');
    expect(message).toMatch(/the URL would leave baseUrl \(https:\/\/api\.acme\.example\/api\/v2\/\)/);
    expect(calls).toHaveLength(0);
  });

  it('a header value with CR/LF or a character no header can carry is a permanent error, unsent', async () => {
    const { provider, calls } = buildWith(
      sittings('/sittings', { headers: { 'x-org': 'org={{account.fields.org_code}}' } }),
    );
    for (const value of ['ORG1\r\nx-admin: 1', 'ORG1\nx-admin: 1', 'ORG1\u0000', '机构一']) {
      const message = await refused(provider.createExam(withOrg(value)), 'ORG1');
      expect(message).toMatch(
        /createExam request is refused: the header x-org (holds a line break|holds a character)/,
      );
    }
    expect(calls).toHaveLength(0);
    await provider.createExam(withOrg('ORG-1 (main)'));
    expect(calls[0]?.headers.get('x-org')).toBe('org=ORG-1 (main)');
  });

  it('refuses at start a header name that is not one', () => {
    const built = httpProvider.build(
      { ...sittings('/sittings'), headers: { 'x-a\r\nx-b': 'v' } },
      { fetch, now: Date.now, ...context },
    );
    expect(built.ok ? [] : built.errors).toContainEqual(
      expect.stringMatching(/options\.headers\.x-a[\s\S]*is not an HTTP header name/),
    );
  });
});

// A local stand-in for HackerRank for Work's API v3, answering in the documented shapes (see ./api.ts), for
// the provider's tests and the gateway's end-to-end tests. Imported from
// '@feishu-exam/exam-providers/hackerrank-fake'; nothing in production uses it.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeTest {
  readonly id: string;
  readonly unique_id: string;
  readonly name: string;
  readonly duration: number;
  readonly state: string;
  readonly draft: boolean;
  readonly questions: string[];
}

export interface FakeCandidate {
  id: string;
  test: string;
  email: string;
  full_name: string | null;
  status: number;
  score: number | null;
  percentage_score: number | null;
  attempt_starttime: string | null;
  attempt_endtime: string | null;
  invited_on: string;
  invite_link: string;
  invite_metadata: Record<string, unknown>;
  tags: string[];
  report_url: string | null;
  pdf_url: string | null;
}

export interface FakeHackerRank {
  readonly url: string;
  readonly apiKey: string;
  readonly tests: FakeTest[];
  readonly candidates: FakeCandidate[];
  /** Every request, in order. */
  readonly requests: Array<{ method: string; path: string; body: unknown }>;
  /** The candidate finishes and HackerRank generates the report (status 7). */
  finish(candidateId: string, result: { score: number; percentage?: number }): void;
  /** The next `count` requests fail with `status`. */
  failNext(count: number, status: number): void;
  close(): Promise<void>;
}

const DEFAULT_TESTS: FakeTest[] = [
  {
    id: '101',
    unique_id: 'java-basics',
    name: 'Java basics',
    duration: 60,
    state: 'active',
    draft: false,
    questions: ['q1', 'q2', 'q3'],
  },
  {
    id: '102',
    unique_id: 'sql-screen',
    name: 'SQL screen',
    duration: 45,
    state: 'active',
    draft: false,
    questions: ['q4', 'q5'],
  },
  {
    id: '103',
    unique_id: 'wip',
    name: 'Work in progress',
    duration: 30,
    state: 'active',
    draft: true,
    questions: [],
  },
];

export async function startFakeHackerRank(
  options: { apiKey?: string; tests?: FakeTest[] } = {},
): Promise<FakeHackerRank> {
  // Random unless given: no key, even a fake's, is a constant in the source. Callers read it from `apiKey`.
  const apiKey = options.apiKey ?? randomBytes(16).toString('hex');
  const tests = options.tests ?? DEFAULT_TESTS.map((t) => ({ ...t }));
  const candidates: FakeCandidate[] = [];
  const requests: FakeHackerRank['requests'] = [];
  let failures: { count: number; status: number } = { count: 0, status: 500 };
  let url = '';

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  /** The list envelope of every v3 list endpoint. */
  const listPage = (path: string, query: URLSearchParams, items: unknown[]) => {
    const limit = Math.min(100, Number(query.get('limit') ?? 100));
    const offset = Number(query.get('offset') ?? 0);
    const data = items.slice(offset, offset + limit);
    const link = (o: number) => `${url}${path}?limit=${limit}&offset=${o}`;
    return {
      data,
      page_total: data.length,
      offset,
      previous: offset > 0 ? link(Math.max(0, offset - limit)) : '',
      next: offset + limit < items.length ? link(offset + limit) : '',
      first: link(0),
      last: link(Math.max(0, items.length - limit)),
      total: items.length,
    };
  };

  function handle(req: IncomingMessage, res: ServerResponse, text: string) {
    const parsed = new URL(req.url ?? '/', 'http://fake');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return send(res, 400, { error: 'invalid JSON' });
    }
    requests.push({ method: req.method ?? '', path: parsed.pathname + parsed.search, body });
    if (failures.count > 0) {
      failures = { ...failures, count: failures.count - 1 };
      return send(res, failures.status, { error: 'injected failure' });
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`) return send(res, 401, { error: 'Unauthorized' });

    const parts = parsed.pathname.split('/').filter(Boolean); // x, api, v3, tests, ...
    if (parts.slice(0, 4).join('/') !== 'x/api/v3/tests') return send(res, 404, { error: 'Not found' });
    const [, , , , testId, sub, candidateId] = parts;
    if (testId === undefined && req.method === 'GET') {
      return send(res, 200, listPage(parsed.pathname, parsed.searchParams, tests));
    }
    const test = tests.find((t) => t.id === testId);
    if (!test || sub !== 'candidates') return send(res, 404, { error: 'Not found' });
    const ofTest = candidates.filter((c) => c.test === test.id);

    if (req.method === 'POST' && candidateId === undefined) {
      const invite = (body ?? {}) as {
        email?: string;
        full_name?: string;
        force?: boolean;
        invite_metadata?: Record<string, unknown>;
        tags?: string[];
      };
      if (!invite.email) return send(res, 400, { error: 'email is required' });
      // Not documented: what HackerRank answers to a second invitation of one email without `force`.
      // The fake refuses it, the stricter of the two plausible answers.
      if (!invite.force && ofTest.some((c) => c.email === invite.email)) {
        return send(res, 400, { error: 'Candidate has already been invited to this test' });
      }
      const candidate: FakeCandidate = {
        id: String(9000 + candidates.length),
        test: test.id,
        email: invite.email,
        full_name: invite.full_name ?? null,
        status: -1,
        score: null,
        percentage_score: null,
        attempt_starttime: null,
        attempt_endtime: null,
        invited_on: new Date().toISOString(),
        invite_link: `${url}/tests/${test.unique_id}/login?b=${randomBytes(12).toString('hex')}`,
        invite_metadata: invite.invite_metadata ?? {},
        tags: invite.tags ?? [],
        report_url: null,
        pdf_url: null,
      };
      candidates.push(candidate);
      return send(res, 201, candidate);
    }
    if (req.method === 'GET' && candidateId === undefined) {
      return send(res, 200, listPage(parsed.pathname, parsed.searchParams, ofTest));
    }
    const candidate = ofTest.find((c) => c.id === candidateId);
    if (req.method === 'GET' && candidate) return send(res, 200, candidate);
    return send(res, 404, { error: 'Not found' });
  }

  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => handle(req, res, text));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    apiKey,
    tests,
    candidates,
    requests,
    finish(candidateId, result) {
      const candidate = candidates.find((c) => c.id === candidateId);
      if (!candidate) throw new Error(`no candidate ${candidateId}`);
      const end = Date.now();
      Object.assign(candidate, {
        status: 7,
        score: result.score,
        percentage_score: result.percentage ?? null,
        attempt_starttime: new Date(end - 45 * 60_000).toISOString(),
        attempt_endtime: new Date(end).toISOString(),
        report_url: `${url}/x/tests/${candidate.test}/candidates/${candidate.id}/report/summary`,
        pdf_url: `${url}/x/api/v3/tests/${candidate.test}/candidates/${candidate.id}/pdf`,
      });
    },
    failNext(count, status) {
      failures = { count, status };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// /metrics: who may read it, and that pushes, jobs, Open Platform calls and provider calls show up in it.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { envelopeV2, seal } from '@feishu-exam/event-core';
import {
  builtInProviders,
  createProviderRegistry,
  defaultProviderContext,
} from '@feishu-exam/exam-providers';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { GatewayMetrics } from '../src/metrics.js';
import {
  baseEnv,
  post,
  rawExchange,
  secrets,
  startTestGateway,
  type TestGateway,
  testDatabaseUrl,
} from './support.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const fields = { token: secrets.verificationToken, appId: secrets.appId, tenantKey: 't-metrics' };

const running: Array<{ close(): unknown }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function gateway(env: Record<string, string | undefined>): Promise<TestGateway> {
  const gw = await startTestGateway(env);
  running.push(gw);
  return gw;
}

const scrapeOf = (gw: TestGateway) =>
  fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).then((r) => r.text());

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** The exposition's samples (label values here never hold quotes or commas). */
function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1] as string, l[2] as string]),
      );
      return { name: m[1] as string, labels, value: Number(m[3]) };
    });
}

/** The value of the one sample with this name whose labels include `labels`; undefined when none. */
function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(text).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

function examPush(eventId: string, examId: string) {
  return seal(
    envelopeV2(
      'hire.eco_exam.created_v1',
      { exam_id: examId, candidate_info: { name: '王二', email: 'w@x.example' } },
      { ...fields, eventId },
    ),
    { encryptKey: secrets.encryptKey },
  );
}

async function push(gw: TestGateway, sealed: ReturnType<typeof seal>) {
  return post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody);
}

/** A stand-in Open Platform: a tenant token, and message.create answered by `answer` (call number from 1). */
async function openPlatform(answer: (call: number, res: ServerResponse) => void) {
  let calls = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('content-type', 'application/json');
    if (req.url?.includes('tenant_access_token')) {
      res.end(JSON.stringify({ code: 0, msg: 'ok', tenant_access_token: 't-1', expire: 7200 }));
      return;
    }
    if (req.url?.startsWith('/open-apis/im/v1/messages')) {
      answer(++calls, res);
      return;
    }
    res.end(JSON.stringify({ code: 0, msg: 'success', data: {} }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  running.push({ close: () => new Promise((r) => server.close(r)) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never happened: ${what}`);
}

describe('who may read /metrics', () => {
  it('with METRICS_TOKEN: 401 without the token and with a wrong one, the metrics with the right one', async () => {
    const gw = await gateway({ METRICS_TOKEN });
    const none = await fetch(`${gw.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(((await none.json()) as { code: string }).code).toBe('unauthorized');
    const wrong = await fetch(`${gw.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}x` },
    });
    expect(wrong.status).toBe(401);
    const admin = await fetch(`${gw.url}/metrics`, {
      headers: { authorization: `Bearer ${baseEnv.ADMIN_TOKEN}` },
    });
    expect(admin.status).toBe(401);
    const right = await fetch(`${gw.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(right.status).toBe(200);
    expect(right.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await right.text();
    expect(text).toContain('# TYPE feishu_exam_pushes_total counter');
    // Process metrics, with their usual names.
    expect(sampleValue(text, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('with neither METRICS_TOKEN nor METRICS_PORT, /metrics answers 404', async () => {
    const gw = await gateway({});
    const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe('metrics_disabled');
    expect(gw.metricsUrl).toBeUndefined();
  });

  it('METRICS_PORT serves /metrics without authentication on a listener of its own, and nothing else', async () => {
    const gw = await gateway({ METRICS_PORT: '0' });
    expect(gw.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(gw.metricsUrl as string);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# HELP feishu_exam_ingest_duration_seconds');
    expect((await fetch((gw.metricsUrl as string).replace('/metrics', '/admin/jobs'))).status).toBe(404);
    expect((await fetch(gw.metricsUrl as string, { method: 'POST' })).status).toBe(404);
    // What Node's parser refuses is answered in JSON there too, as on the main port.
    const refused = await rawExchange(
      gw.metricsUrl as string,
      'FOO /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'wait',
    );
    expect(refused).toMatch(/^HTTP\/1\.1 400 /);
    expect(refused).toContain('"code":"bad_request"');
    // The main port does not serve them without a token.
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(404);
    await gw.close();
    await expect(fetch(gw.metricsUrl as string)).rejects.toThrow();
  });

  it('METRICS_TOKEN shorter than 16 characters, and METRICS_PORT equal to PORT, are configuration errors', () => {
    const short = loadConfig({ ...baseEnv, METRICS_TOKEN: 'short' });
    expect(short.ok ? [] : short.errors).toEqual([expect.stringMatching(/^METRICS_TOKEN .*16/)]);
    const same = loadConfig({ ...baseEnv, PORT: '8080', METRICS_PORT: '8080' });
    expect(same.ok ? [] : same.errors).toEqual([
      expect.stringMatching(/^METRICS_PORT must differ from PORT/),
    ]);
    const fine = loadConfig({ ...baseEnv, PORT: '8080', METRICS_PORT: '9464', METRICS_TOKEN });
    expect(fine.ok && fine.config.metrics).toEqual({ token: METRICS_TOKEN, port: 9464 });
  });
});

describe('what /metrics shows', () => {
  it('a push, its re-push and a forged one: counted by type and outcome, acknowledged ones in the ingest histogram; jobs by kind and state', async () => {
    const gw = await gateway({ METRICS_TOKEN, OUTBOX_WORKER: 'off', DATABASE_URL: testDatabaseUrl() });
    const exam = 'hire.eco_exam.created_v1';
    const sealed = examPush('ev-m-1', 'exam-m-1');
    expect((await push(gw, sealed)).status).toBe(200);
    expect((await push(gw, sealed)).status).toBe(200);
    const forged = { ...sealed, headers: { ...sealed.headers, 'x-lark-signature': '0'.repeat(64) } };
    expect((await push(gw, forged)).status).toBe(401);

    const text = await scrapeOf(gw);
    expect(sampleValue(text, 'feishu_exam_pushes_total', { type: exam, outcome: 'accepted' })).toBe(1);
    expect(sampleValue(text, 'feishu_exam_pushes_total', { type: exam, outcome: 'duplicate' })).toBe(1);
    expect(
      sampleValue(text, 'feishu_exam_pushes_total', {
        type: 'unverified',
        outcome: 'refused',
        code: 'bad_signature',
      }),
    ).toBe(1);
    expect(sampleValue(text, 'feishu_exam_ingest_duration_seconds_count', { type: exam })).toBe(2);
    expect(sampleValue(text, 'feishu_exam_ingest_duration_seconds_bucket', { type: exam, le: '+Inf' })).toBe(
      2,
    );
    // The worker is off: the card job waits.
    expect(sampleValue(text, 'feishu_exam_jobs', { kind: 'post_card', state: 'pending' })).toBe(1);
    // No id of any kind in a label.
    expect(text).not.toContain('exam-m-1');
    expect(text).not.toContain('ev-m-1');
  });

  it('a job run: its attempts by outcome, the Open Platform calls by result code, the event → card latency', async () => {
    const domain = await openPlatform((call, res) => {
      if (call === 1) {
        res.statusCode = 429;
        // Back in a second: the retry waits pending long enough for a scrape to see it (the worker claims a
        // new job at once, so the first attempt's pending is too short to be seen reliably).
        res.setHeader('x-ogw-ratelimit-reset', '1');
        res.end(JSON.stringify({ code: 99991400, msg: 'request trigger frequency limit' }));
        return;
      }
      res.end(JSON.stringify({ code: 0, msg: 'success', data: { message_id: 'om_card_1' } }));
    });
    const gw = await gateway({
      METRICS_TOKEN,
      FEISHU_DOMAIN: domain,
      OUTBOX_POLL_MS: '20',
      OUTBOX_BASE_DELAY_MS: '5',
      OUTBOX_MAX_DELAY_MS: '20',
    });
    expect((await push(gw, examPush('ev-m-2', 'exam-m-2'))).status).toBe(200);
    const card = { kind: 'post_card' };
    await eventually(
      async () =>
        sampleValue(await scrapeOf(gw), 'feishu_exam_job_attempts_total', {
          ...card,
          outcome: 'succeeded',
        }) === 1,
      'the card posted',
    );
    const text = await scrapeOf(gw);
    const api = 'im.v1.message.create';
    expect(sampleValue(text, 'feishu_exam_open_api_calls_total', { api, code: '99991400' })).toBe(1);
    expect(sampleValue(text, 'feishu_exam_open_api_calls_total', { api, code: '0' })).toBe(1);
    expect(sampleValue(text, 'feishu_exam_open_api_call_duration_seconds_count', { api })).toBe(2);
    expect(
      sampleValue(text, 'feishu_exam_job_attempts_total', { ...card, outcome: 'retryable_failure' }),
    ).toBe(1);
    expect(
      sampleValue(text, 'feishu_exam_job_duration_seconds_count', { ...card, outcome: 'succeeded' }),
    ).toBe(1);
    expect(sampleValue(text, 'feishu_exam_job_wait_seconds_count', card)).toBe(2);
    expect(sampleValue(text, 'feishu_exam_event_to_card_seconds_count')).toBe(1);
    // The job went from pending to done: its series stays, at 0.
    await eventually(
      async () => sampleValue(await scrapeOf(gw), 'feishu_exam_jobs', { ...card, state: 'pending' }) === 0,
      'the job done',
    );
  });
});

describe('GatewayMetrics', () => {
  it('exam platform calls are counted by provider, method and outcome; routing is unchanged', async () => {
    const built = createProviderRegistry(
      builtInProviders,
      {
        providers: [{ id: 'sb', type: 'sandbox', options: { failingPaperIds: ['bad'] } }],
        defaultProvider: 'sb',
      },
      defaultProviderContext(),
    );
    if (!built.ok) throw new Error(built.errors.join('\n'));
    const metrics = new GatewayMetrics();
    const providers = metrics.observeProviders(built.registry);
    const route = providers.route({ paperId: 'bad' });
    if (!route.ok) throw new Error(route.reason);
    expect(route.via).toBe('default');
    const candidate = { name: '王二', email: 'w@x.example' };
    await route.provider.createExam({ examId: 'p-1', paperId: 'paper001', candidate });
    await expect(route.provider.createExam({ examId: 'p-2', paperId: 'bad', candidate })).rejects.toThrow();
    await providers.get('sb')?.listPapers?.(undefined);
    expect(providers.defaultProviderId).toBe('sb');
    expect([...providers.providers.keys()]).toEqual(['sb']);

    const text = await metrics.scrape();
    const sb = { provider: 'sb' };
    expect(
      sampleValue(text, 'feishu_exam_provider_calls_total', { ...sb, method: 'createExam', outcome: 'ok' }),
    ).toBe(1);
    expect(
      sampleValue(text, 'feishu_exam_provider_calls_total', {
        ...sb,
        method: 'createExam',
        outcome: 'refused',
      }),
    ).toBe(1);
    expect(
      sampleValue(text, 'feishu_exam_provider_calls_total', { ...sb, method: 'listPapers', outcome: 'ok' }),
    ).toBe(1);
    expect(
      sampleValue(text, 'feishu_exam_provider_call_duration_seconds_count', { ...sb, method: 'createExam' }),
    ).toBe(2);
  });

  it('a jobs query that does not answer never holds a scrape: the gauge keeps its last values, the failure is counted', async () => {
    let answer: () => Promise<Array<{ kind: string; state: string; n: number }>> = async () => [
      { kind: 'post_card', state: 'pending', n: 3 },
    ];
    const metrics = new GatewayMetrics({ countJobs: () => answer(), countJobsTimeoutMs: 20 });
    expect(
      sampleValue(await metrics.scrape(), 'feishu_exam_jobs', { kind: 'post_card', state: 'pending' }),
    ).toBe(3);
    answer = () => new Promise(() => undefined);
    const stuck = await metrics.scrape();
    expect(sampleValue(stuck, 'feishu_exam_jobs', { kind: 'post_card', state: 'pending' })).toBe(3);
    expect(sampleValue(stuck, 'feishu_exam_job_count_failures_total')).toBe(1);
    answer = async () => {
      throw new Error('SQLITE_BUSY');
    };
    // The stuck query is still the one in flight: no second query piles up behind it.
    expect(sampleValue(await metrics.scrape(), 'feishu_exam_job_count_failures_total')).toBe(2);
  });

  it('a series whose jobs are gone reports 0, and ids never become labels', async () => {
    let rows = [
      { kind: 'post_card', state: 'pending', n: '2' },
      { kind: 'arrange', state: 'dead', n: '1' },
    ];
    const metrics = new GatewayMetrics({ countJobs: async () => rows });
    await metrics.scrape();
    rows = [{ kind: 'arrange', state: 'dead', n: '1' }];
    const text = await metrics.scrape();
    expect(sampleValue(text, 'feishu_exam_jobs', { kind: 'post_card', state: 'pending' })).toBe(0);
    expect(sampleValue(text, 'feishu_exam_jobs', { kind: 'arrange', state: 'dead' })).toBe(1);
    metrics.push('im.message.receive_v1', 'accepted', performance.now());
    expect(sampleValue(await metrics.scrape(), 'feishu_exam_pushes_total', { type: 'other' })).toBe(1);
  });
});

describe('docs/grafana-dashboard.json', () => {
  it('parses, and every query names only metrics the gateway exposes', async () => {
    const dashboard = JSON.parse(
      readFileSync(new URL('../../../docs/grafana-dashboard.json', import.meta.url), 'utf8'),
    ) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const metrics = new GatewayMetrics({ processMetrics: true, countJobs: async () => [] });
    const exposed = new Set<string>();
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      exposed.add(m.name);
      if (String(m.type) === 'histogram')
        for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(`${m.name}${suffix}`);
    }
    const exprs = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
    );
    expect(exprs.length).toBeGreaterThan(8);
    const unknown: string[] = [];
    for (const { panel, expr } of exprs) {
      const names = expr.match(/\b(feishu_exam|process|nodejs)_[a-z0-9_]+/g) ?? [];
      if (names.length === 0) unknown.push(`${panel}: no metric in ${expr}`);
      for (const name of names) if (!exposed.has(name)) unknown.push(`${panel}: ${name}`);
    }
    expect(unknown).toEqual([]);
    // Every metric of the gateway's own is on the dashboard.
    const used = new Set(exprs.flatMap(({ expr }) => expr.match(/\bfeishu_exam_[a-z0-9_]+/g) ?? []));
    const own = [...exposed].filter((n) => n.startsWith('feishu_exam_') && !/_(bucket|sum|count)$/.test(n));
    const missing = own.filter(
      (n) => ![...used].some((u) => u === n || u.replace(/_(bucket|sum|count)$/, '') === n),
    );
    expect(missing).toEqual([]);
  });
});

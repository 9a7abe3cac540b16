import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { envelopeV2, parse, seal } from '@feishu-exam/event-core';
import { afterEach, describe, expect, it } from 'vitest';
import { CARD_NOT_REGISTERED, handleCardAction } from '../src/bot/card-actions.js';
import { approvalCard } from '../src/bot/cards.js';
import { loadConfig } from '../src/config.js';
import { callOpenApi, FeishuClients, type OpenApiError } from '../src/feishu/clients.js';
import { createLogger } from '../src/log.js';
import { claimDueJobs, enqueueJob } from '../src/outbox/jobs.js';
import { type ExamRow, openStore, type Store } from '../src/store/index.js';
import { queuePaperSyncForAll } from '../src/workflow/accounts.js';
import { examLifecycle } from '../src/workflow/exam-lifecycle.js';
import { tenancy } from '../src/workflow/tenants.js';
import { baseEnv, tempDatabaseUrl, testDatabaseUrl, testStoreOptions } from './support.js';

const appSecret = 'market-secret-5d4c3b2a1';
const stores: Store[] = [];
const closers: Array<() => void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _e, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, log: createLogger({ level: 'trace', destination }) };
}

async function freshStore(url = testDatabaseUrl()) {
  const store = await openStore(url, createLogger({ level: 'silent' }), testStoreOptions);
  stores.push(store);
  return store;
}

/**
 * A marketplace Open Platform: resend, app token from a ticket, tenant token per tenant, and one API that
 * answers with the tenant whose token it got. Counts what it was asked.
 */
async function marketplacePlatform(validTicket = 'ticket-1') {
  const counts = { resend: 0, appToken: 0, tenantToken: {} as Record<string, number>, unauthenticated: 0 };
  const refuse = new Set<string>();
  let tokenSeq = 0;
  const tokens = new Map<string, string>();
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const body = text ? JSON.parse(text) : {};
      const send = (value: unknown) => res.end(JSON.stringify(value));
      if (req.url?.endsWith('/app_ticket/resend')) {
        counts.resend++;
        return send({ code: 0, msg: 'success' });
      }
      if (req.url?.endsWith('/auth/v3/app_access_token')) {
        counts.appToken++;
        if (body.app_ticket !== validTicket) return send({ code: 10012, msg: 'get app access token fail' });
        return send({ code: 0, msg: 'success', app_access_token: 'a-app', expire: 7200 });
      }
      if (req.url?.endsWith('/auth/v3/tenant_access_token')) {
        const tenant = String(body.tenant_key);
        counts.tenantToken[tenant] = (counts.tenantToken[tenant] ?? 0) + 1;
        const token = `t-${tenant}-${++tokenSeq}`;
        tokens.set(token, tenant);
        return send({ code: 0, msg: 'success', tenant_access_token: token, expire: 7200 });
      }
      const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!presented) {
        counts.unauthenticated++;
        res.writeHead(400);
        return send({ code: 99991661, msg: 'Missing access token' });
      }
      if (refuse.has(presented) || !tokens.has(presented)) {
        res.writeHead(400);
        return send({ code: 99991663, msg: 'Invalid access token' });
      }
      return send({ code: 0, msg: 'success', data: { tenant: { name: tokens.get(presented) } } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => server.close());
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    /** Feishu stops accepting the tokens it gave this tenant. */
    expire: (tenant: string) => {
      for (const [token, t] of tokens) if (t === tenant) refuse.add(token);
    },
  };
}

function marketplaceClients(domain: string, store: Store, log = capture().log, now = Date.now) {
  return new FeishuClients(
    { appId: 'cli_market', appSecret, domain, appType: 'marketplace', staffTenantKey: 'tenant_vendor' },
    log,
    { store, now },
  );
}

const queryName = (clients: FeishuClients, tenantKey: string) => {
  const tenant = clients.forTenant(tenantKey);
  return callOpenApi<{ tenant: { name: string } }>(tenant, 'tenant.v2.tenant.query', () =>
    tenant.client.tenant.v2.tenant.query({}, tenant.options),
  );
};

describe('configuration', () => {
  it('defaults to a self-built app; a marketplace app needs the staff tenant', () => {
    const selfBuilt = loadConfig(baseEnv);
    expect(selfBuilt.ok && selfBuilt.config.appType).toBe('self_built');
    const missing = loadConfig({ ...baseEnv, FEISHU_APP_TYPE: 'marketplace' });
    expect(missing.ok).toBe(false);
    expect(missing.ok ? [] : missing.errors).toEqual([
      expect.stringMatching(/^FEISHU_STAFF_TENANT_KEY is required when FEISHU_APP_TYPE=marketplace/),
    ]);
    const wrong = loadConfig({ ...baseEnv, FEISHU_APP_TYPE: 'store' });
    expect(wrong.ok ? [] : wrong.errors).toEqual([
      expect.stringMatching(/^FEISHU_APP_TYPE must be self_built/),
    ]);
    const market = loadConfig({
      ...baseEnv,
      FEISHU_APP_TYPE: 'marketplace',
      FEISHU_STAFF_TENANT_KEY: 'tk_v',
    });
    expect(market.ok && market.config).toMatchObject({ appType: 'marketplace', staffTenantKey: 'tk_v' });
  });
});

describe('marketplace tokens', () => {
  it('without a ticket: no call leaves without a token, resend is asked at most once a minute, the call is retryable', async () => {
    const platform = await marketplacePlatform();
    const store = await freshStore();
    let now = 1_000_000;
    const clients = marketplaceClients(platform.url, store, capture().log, () => now);
    const failures = await Promise.all(
      [1, 2, 3].map(() => queryName(clients, 'tenant_a').catch((e: OpenApiError) => e)),
    );
    expect(failures.map((e) => (e as OpenApiError).failure)).toEqual(['no_token', 'no_token', 'no_token']);
    expect(failures.every((e) => (e as OpenApiError).retryable)).toBe(true);
    expect(platform.counts.unauthenticated).toBe(0);
    expect(platform.counts.resend).toBe(1);
    now += 61_000;
    await queryName(clients, 'tenant_a').catch(() => undefined);
    expect(platform.counts.resend).toBe(2);
  });

  it('the SDK itself never sends an unauthenticated call (a call without a tenant key is refused before it leaves)', async () => {
    const platform = await marketplacePlatform();
    const store = await freshStore();
    const clients = marketplaceClients(platform.url, store);
    await clients.tickets?.receive('ticket-1', 'cli_market');
    const { client } = clients.forTenant('tenant_a');
    await expect(client.tenant.v2.tenant.query({})).rejects.toMatchObject({ noToken: true });
    expect(platform.counts.unauthenticated).toBe(0);
  });

  it("one fetch per tenant for concurrent calls; a refused token is dropped for that tenant only; another replica's ticket is used", async () => {
    const platform = await marketplacePlatform();
    const url = testDatabaseUrl();
    const replicaA = marketplaceClients(platform.url, await freshStore(url));
    const replicaB = marketplaceClients(platform.url, await freshStore(url));
    // The push reached replica A; replica B reads it from the database.
    await replicaA.tickets?.receive('ticket-1', 'cli_market');
    const names = await Promise.all(
      ['tenant_a', 'tenant_a', 'tenant_a', 'tenant_b', 'tenant_b'].map((t) => queryName(replicaB, t)),
    );
    expect(names.map((n) => n.tenant.name)).toEqual([
      'tenant_a',
      'tenant_a',
      'tenant_a',
      'tenant_b',
      'tenant_b',
    ]);
    expect(platform.counts.tenantToken).toEqual({ tenant_a: 1, tenant_b: 1 });

    platform.expire('tenant_a');
    await Promise.all([1, 2, 3].map(() => queryName(replicaB, 'tenant_a')));
    await queryName(replicaB, 'tenant_b');
    expect(platform.counts.tenantToken).toEqual({ tenant_a: 2, tenant_b: 1 });

    // Both replicas need tenant_c's first token at once: one of them fetches it, the other uses it.
    await Promise.all([replicaA, replicaB, replicaA, replicaB].map((r) => queryName(r, 'tenant_c')));
    expect(platform.counts.tenantToken).toEqual({ tenant_a: 2, tenant_b: 1, tenant_c: 1 });
    // Both replicas started without a ticket; together they asked for one once.
    expect(platform.counts.resend).toBe(1);
  });

  it('10012 (stale ticket): the ticket is dropped and a new one asked for; no secret or token is logged', async () => {
    const platform = await marketplacePlatform('ticket-2');
    const store = await freshStore();
    const { lines, log } = capture();
    let now = 5_000_000;
    const clients = marketplaceClients(platform.url, store, log, () => now);
    // Started without a ticket: asked once (the SDK looks when it is built; a ticket stored before it looked
    // would leave it nothing to ask for). A minute later the stored one turns out stale.
    await resendsReach(platform, 1);
    await clients.tickets?.receive('ticket-1', 'cli_market');
    expect(platform.counts.resend).toBe(1);
    now += 61_000;
    const error = (await queryName(clients, 'tenant_a').catch((e: OpenApiError) => e)) as OpenApiError;
    expect(error.retryable).toBe(true);
    expect(platform.counts.resend).toBe(2);
    expect(await clients.tickets?.state()).toMatchObject({ present: false });
    await clients.tickets?.receive('ticket-2', 'cli_market');
    await expect(queryName(clients, 'tenant_a')).resolves.toMatchObject({ tenant: { name: 'tenant_a' } });
    const text = lines.join('');
    for (const secret of [appSecret, 'ticket-1', 'ticket-2', 'a-app', 't-tenant_a'])
      expect(text).not.toContain(secret);
  });
});

describe('the app_ticket', () => {
  it('a late re-push of an old ticket landing on another replica does not replace the newer ticket stored for all', async () => {
    const platform = await marketplacePlatform('ticket-2');
    const url = testDatabaseUrl();
    const replicaA = marketplaceClients(platform.url, await freshStore(url));
    const replicaB = marketplaceClients(platform.url, await freshStore(url));
    const now = Date.now();
    expect(await replicaA.tickets?.receive('ticket-1', 'cli_market', now - 2 * 3600_000)).toBe('stored');
    // Replica B has read ticket-1 (and keeps its copy).
    expect(await replicaB.tickets?.state()).toMatchObject({ present: true });
    expect(await replicaA.tickets?.receive('ticket-2', 'cli_market', now - 60_000)).toBe('stored');
    // Feishu retries the push of ticket-1 (it does for hours); this time it lands on replica B.
    expect(await replicaB.tickets?.receive('ticket-1', 'cli_market', now - 2 * 3600_000)).toBe('older');
    // A replica that starts now exchanges ticket-2 (the platform accepts only that one).
    const replicaC = marketplaceClients(platform.url, await freshStore(url));
    await expect(queryName(replicaC, 'tenant_c')).resolves.toMatchObject({ tenant: { name: 'tenant_c' } });
  });

  it('a replica that finds its copy of an old ticket stale drops that ticket only, not the new one another replica stored meanwhile', async () => {
    const platform = await marketplacePlatform('ticket-2');
    const url = testDatabaseUrl();
    const replicaA = marketplaceClients(platform.url, await freshStore(url));
    const replicaB = marketplaceClients(platform.url, await freshStore(url));
    await replicaA.tickets?.receive('ticket-1', 'cli_market');
    // Replica B has read ticket-1 (and keeps its copy); then Feishu stops accepting it.
    expect(await replicaB.tickets?.state()).toMatchObject({ present: true });
    await expect(queryName(replicaA, 'tenant_a')).rejects.toMatchObject({ retryable: true });
    // Feishu's answer to replica A's resend: ticket-2, pushed to replica A.
    await replicaA.tickets?.receive('ticket-2', 'cli_market');
    // Replica B still tries its copy of ticket-1 once, is refused, and drops ticket-1: ticket-2 stays, for
    // a replica that starts now too.
    await expect(queryName(replicaB, 'tenant_b')).rejects.toMatchObject({ retryable: true });
    const replicaC = marketplaceClients(platform.url, await freshStore(url));
    expect(await replicaC.tickets?.state()).toMatchObject({ present: true });
    await expect(queryName(replicaB, 'tenant_b')).resolves.toMatchObject({ tenant: { name: 'tenant_b' } });
    await expect(queryName(replicaA, 'tenant_a')).resolves.toMatchObject({ tenant: { name: 'tenant_a' } });
  });

  it('counts as gone 3 hours after it arrived (the SDK would keep it forever): a new one is asked for', async () => {
    const platform = await marketplacePlatform();
    const store = await freshStore();
    let now = 10_000_000;
    const clients = marketplaceClients(platform.url, store, capture().log, () => now);
    await resendsReach(platform, 1);
    await clients.tickets?.receive('ticket-1', 'cli_market');
    const resendsAtStart = platform.counts.resend;
    now += 2 * 3600_000;
    expect(await clients.tickets?.ensure('test')).toBe(true);
    now += 3600_000 + 1;
    expect(await clients.tickets?.ensure('test')).toBe(false);
    expect(platform.counts.resend).toBe(resendsAtStart + 1);
  });

  it('a marketplace call without a tenant is refused for good, never sent', async () => {
    const platform = await marketplacePlatform();
    const clients = marketplaceClients(platform.url, await freshStore());
    await clients.tickets?.receive('ticket-1', 'cli_market');
    const error = (await queryName(clients, '').catch((e: OpenApiError) => e)) as OpenApiError;
    expect(error).toMatchObject({ failure: 'rejected', retryable: false });
    expect(platform.counts.unauthenticated).toBe(0);
  });
});

describe('tenants', () => {
  it('jobs of a stopped tenant are not claimed, and are claimed again once it starts; late lifecycle events change nothing', async () => {
    const store = await freshStore();
    const policy = { marketplace: false, staffTenantKey: undefined, accountFields: [] };
    await store.write(async (tx) => {
      await enqueueJob(tx, { kind: 'report_login_info', tenantKey: 'tk_a', idempotencyKey: 'a' }, 1);
      await enqueueJob(tx, { kind: 'report_login_info', tenantKey: 'tk_b', idempotencyKey: 'b' }, 1);
      await tenancy.lifecycle(tx, 'tk_a', 'cli', 'stopped', 100, policy, 1);
      // A re-push of an older app_open arrives late: the tenant stays stopped.
      expect(await tenancy.lifecycle(tx, 'tk_a', 'cli', 'active', 50, policy, 1)).toBe('stale');
    });
    const claimed = await store.write((tx) => claimDueJobs(tx, 'w1', 10, 1000, 2));
    expect(claimed.map((j) => j.tenantKey)).toEqual(['tk_b']);
    await store.write((tx) => tenancy.lifecycle(tx, 'tk_a', 'cli', 'active', 200, policy, 3));
    const resumed = await store.write((tx) => claimDueJobs(tx, 'w1', 10, 1000, 4));
    expect(resumed.map((j) => j.tenantKey)).toEqual(['tk_a']);
  });

  it('accounts are keyed by tenant: two customers may bind the same account id', async () => {
    const store = await freshStore();
    const insert = (tenant: string) =>
      store.write((tx) =>
        tx.run(
          `INSERT INTO accounts (account_id, tenant_key, app_id, scope, name, usage_list, custom_fields, provider_id,
             published_paper_ids, bound_at, updated_at) VALUES ('acc-1', ?, 'cli', 2, NULL, '[]', '{}', 'sandbox', NULL, 1, 1)`,
          [tenant],
        ),
      );
    await insert('tk_a');
    await insert('tk_b');
    await expect(insert('tk_a')).rejects.toThrow();
  });
});

describe('exams keyed by tenant', () => {
  const examFrom = (tenantKey: string, examId: string, eventId = `${tenantKey}-${examId}`) => {
    const r = parse(
      seal(envelopeV2('hire.eco_exam.created_v1', { exam_id: examId }, { eventId, tenantKey })),
      {},
    );
    if (!r.ok || r.kind !== 'event' || r.event.type !== 'hire.eco_exam.created_v1')
      throw new Error('fixture');
    return r.event;
  };
  const arranged = async (store: Store, tenantKey: string, examId: string, providerId: string) =>
    store.write(async (tx) => {
      const key = { tenantKey, examId };
      await examLifecycle.approve(tx, key, 'ou_staff', 2);
      await examLifecycle.arrangementMade(tx, key, providerId, { examUrl: 'https://x.example/e' }, 3);
      await examLifecycle.loginInfoReported(tx, key, 4);
    });
  const result = { score: '90' };

  // A stopped or uninstalled customer's jobs wait for it; a recurring round queued one more for it every round
  // (for good: an uninstall is), and a customer back after a day had 24 syncs of an account run at once.
  it('recurring rounds (paper sync, result polls) leave out a customer that stopped or uninstalled the app', async () => {
    const store = await freshStore();
    const policy = { marketplace: false, staffTenantKey: undefined, accountFields: [] };
    const tenants = ['tk_live', 'tk_stopped', 'tk_gone'];
    await store.write((tx) =>
      examLifecycle.receiveMany(
        tx,
        tenants.map((t) => examFrom(t, 'e-1')),
        1,
      ),
    );
    for (const tenant of tenants) {
      await arranged(store, tenant, 'e-1', 'polled');
      await store.write((tx) =>
        tx.run(
          `INSERT INTO accounts (account_id, tenant_key, app_id, scope, name, usage_list, custom_fields, provider_id,
             published_paper_ids, bound_at, updated_at) VALUES ('acc-1', ?, 'cli', 2, NULL, '[]', '{}', 'sandbox', NULL, 1, 1)`,
          [tenant],
        ),
      );
    }
    await store.write(async (tx) => {
      await tenancy.lifecycle(tx, 'tk_stopped', 'cli', 'stopped', 100, policy, 5);
      await tenancy.lifecycle(tx, 'tk_gone', 'cli', 'uninstalled', 100, policy, 5);
    });
    const queued = async (kind: string) =>
      (
        (await store.dataSource.query(
          `SELECT tenant_key FROM outbox_jobs WHERE kind = '${kind}' ORDER BY tenant_key`,
        )) as Array<{ tenant_key: string }>
      ).map((r) => r.tenant_key);
    for (let round = 1; round <= 3; round++)
      await store.write(async (tx) => {
        await queuePaperSyncForAll(tx, String(round), 10 + round);
        await examLifecycle.queueResultPolls(tx, String(round), 10 + round, ['polled']);
      });
    expect(await queued('sync_papers')).toEqual(['tk_live', 'tk_live', 'tk_live']);
    expect(await queued('poll_result')).toEqual(['tk_live', 'tk_live', 'tk_live']);
    // Started again: the next round takes it in.
    await store.write(async (tx) => {
      await tenancy.lifecycle(tx, 'tk_stopped', 'cli', 'active', 200, policy, 20);
      await queuePaperSyncForAll(tx, '4', 21);
      await examLifecycle.queueResultPolls(tx, '4', 21, ['polled']);
    });
    expect((await queued('sync_papers')).filter((t) => t === 'tk_stopped')).toHaveLength(1);
    expect((await queued('poll_result')).filter((t) => t === 'tk_stopped')).toHaveLength(1);
  });

  it('two customers may have the same exam id; each moves on its own', async () => {
    const store = await freshStore();
    const outcomes = await store.write((tx) =>
      examLifecycle.receiveMany(
        tx,
        [examFrom('tk_a', 'e-1'), examFrom('tk_b', 'e-1'), examFrom('tk_a', 'e-1', 'another-event')],
        1,
      ),
    );
    // The third is tk_a's exam again (another event id): a duplicate exam.
    expect(outcomes).toEqual(['created', 'created', 'duplicate_exam']);
    await store.write((tx) =>
      examLifecycle.reject(tx, { tenantKey: 'tk_b', examId: 'e-1' }, 'ou_staff', 'no', 2),
    );
    const states = await store.dataSource.query(
      "SELECT tenant_key, state FROM exams WHERE exam_id = 'e-1' ORDER BY tenant_key",
    );
    expect(states).toEqual([
      { tenant_key: 'tk_a', state: 'pending_approval' },
      { tenant_key: 'tk_b', state: 'rejected' },
    ]);
  });

  it("a click finds its exam by its card: the other customer's exam with the same id is never decided", async () => {
    const store = await freshStore();
    await store.write(async (tx) => {
      await examLifecycle.receiveMany(tx, [examFrom('tk_a', 'e-9'), examFrom('tk_b', 'e-9')], 1);
      await examLifecycle.cardPosted(tx, { tenantKey: 'tk_a', examId: 'e-9' }, 'om_a', 2);
    });
    const click = (messageId: string) => {
      const r = parse(
        seal(
          envelopeV2(
            'card.action.trigger',
            {
              operator: { open_id: 'ou_staff', tenant_key: 'tk_vendor' },
              action: { value: { action: 'approve', exam_id: 'e-9' }, tag: 'button' },
              context: { open_message_id: messageId },
            },
            { tenantKey: 'tk_vendor' },
          ),
        ),
        {},
      );
      if (!r.ok || r.kind !== 'event' || r.event.type !== 'card.action.trigger') throw new Error('fixture');
      const deps = {
        store,
        approverOpenIds: new Set<string>(),
        cardOf: async (exam: ExamRow) => approvalCard(exam, { showContact: false }),
        now: () => 3,
        onDecision: () => undefined,
        staffTenantKey: 'tk_vendor',
      };
      return handleCardAction(r.event, deps, createLogger({ level: 'silent' }));
    };
    // tk_b's card is in the chat, but its message id is not committed yet: click again, tk_a is untouched.
    expect(await click('om_b')).toEqual({ toast: CARD_NOT_REGISTERED });
    await store.write((tx) => examLifecycle.cardPosted(tx, { tenantKey: 'tk_b', examId: 'e-9' }, 'om_b', 4));
    expect(await click('om_b')).toMatchObject({ toast: { type: 'success' } });
    const states = await store.dataSource.query(
      "SELECT tenant_key, state FROM exams WHERE exam_id = 'e-9' ORDER BY tenant_key",
    );
    expect(states).toEqual([
      { tenant_key: 'tk_a', state: 'pending_approval' },
      { tenant_key: 'tk_b', state: 'arranging' },
    ]);
  });

  it("a platform's result for a shared id goes to the exam that platform arranged; with two, it is refused as ambiguous", async () => {
    const store = await freshStore();
    await store.write((tx) =>
      examLifecycle.receiveMany(
        tx,
        [examFrom('tk_a', 'e-2'), examFrom('tk_b', 'e-2'), examFrom('tk_c', 'e-3'), examFrom('tk_d', 'e-3')],
        1,
      ),
    );
    await arranged(store, 'tk_a', 'e-2', 'p');
    await arranged(store, 'tk_b', 'e-2', 'q');
    expect(await store.write((tx) => examLifecycle.resultReceived(tx, 'e-2', 'q', result, 5))).toBe(
      'recorded',
    );
    const [b] = await store.dataSource.query(
      "SELECT result FROM exams WHERE tenant_key = 'tk_b' AND exam_id = 'e-2'",
    );
    expect(JSON.parse(b.result)).toEqual(result);
    await arranged(store, 'tk_c', 'e-3', 'p');
    await arranged(store, 'tk_d', 'e-3', 'p');
    expect(await store.write((tx) => examLifecycle.resultReceived(tx, 'e-3', 'p', result, 5))).toBe(
      'ambiguous',
    );
  });
});

describe('migration 0005 (tenancy)', () => {
  it('keys exams and accounts by tenant without losing rows, and gives queued jobs their exam tenant', async () => {
    const { DataSource } = await import('typeorm');
    const { Initial1764000000000 } = await import('../src/store/migrations/0001-initial.js');
    const { Accounts1764000000001 } = await import('../src/store/migrations/0002-accounts.js');
    const { Results1764000000002 } = await import('../src/store/migrations/0003-results.js');
    const { Hardening1764000000004 } = await import('../src/store/migrations/0004-hardening.js');
    const url = tempDatabaseUrl();
    const before = new DataSource({
      type: 'sqlite',
      database: url.slice('sqlite:'.length),
      migrations: [Initial1764000000000, Accounts1764000000001, Results1764000000002, Hardening1764000000004],
    });
    await before.initialize();
    await before.runMigrations();
    await before.query(
      `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, candidate, state, received_at, updated_at)
       VALUES ('e-1', 'tk_a', 'cli', 'ev-1', '{}', 'pending_approval', 1, 1)`,
    );
    await before.query(
      `INSERT INTO accounts (account_id, tenant_key, app_id, usage_list, custom_fields, provider_id, bound_at, updated_at)
       VALUES ('acc-1', 'tk_a', 'cli', '[]', '{}', 'sandbox', 1, 1)`,
    );
    await before.query(
      `INSERT INTO outbox_jobs (id, kind, exam_id, payload, idempotency_key, state, attempts, max_attempts, run_at, created_at, updated_at)
       VALUES ('j-1', 'post_card', 'e-1', '{}', 'post_card:e-1', 'pending', 0, 12, 1, 1, 1)`,
    );
    await before.destroy();

    const store = await freshStore(url);
    const [exam] = await store.dataSource.query("SELECT tenant_key, state FROM exams WHERE exam_id = 'e-1'");
    expect(exam).toEqual({ tenant_key: 'tk_a', state: 'pending_approval' });
    const [job] = await store.dataSource.query("SELECT tenant_key FROM outbox_jobs WHERE id = 'j-1'");
    expect(job).toEqual({ tenant_key: 'tk_a' });
    // The same ids in another customer's Hire are other rows now.
    await store.write(async (tx) => {
      await tx.run(
        `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, candidate, state, received_at, updated_at)
         VALUES ('e-1', 'tk_b', 'cli', 'ev-2', '{}', 'pending_approval', 2, 2)`,
      );
      await tx.run(
        `INSERT INTO accounts (account_id, tenant_key, app_id, usage_list, custom_fields, provider_id, bound_at, updated_at)
         VALUES ('acc-1', 'tk_b', 'cli', '[]', '{}', 'sandbox', 2, 2)`,
      );
    });
    const [{ n }] = await store.dataSource.query("SELECT COUNT(*) AS n FROM exams WHERE exam_id = 'e-1'");
    expect(Number(n)).toBe(2);
  });
});

/** Waits (bounded) for the start-up resend, which runs in the background: no fixed sleep on a loaded machine. */
async function resendsReach(platform: { counts: { resend: number } }, n: number): Promise<void> {
  for (let i = 0; i < 400 && platform.counts.resend < n; i++) await new Promise((r) => setTimeout(r, 25));
}

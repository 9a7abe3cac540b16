// Account binding: a customer binds an account with the vendor in Feishu Hire; we keep it, with the
// custom-field values that identify the customer on the exam platform, and publish its papers.
import { createHash } from 'node:crypto';
import type { KnownEvent } from '@feishu-exam/event-core';
import type { AccountField, ProviderRegistry } from '@feishu-exam/exam-providers';
import { enqueueJob, tenantOpen } from '../outbox/jobs.js';
import type { Tx } from '../store/index.js';

export type BindOutcome = 'bound' | 'rebound' | 'duplicate_event';

export const accountBinding = {
  /**
   * `hire.eco_account.created_v1`: stores the account (a re-push, or a new binding of the same account,
   * updates it rather than adding a second) and queues a paper sync for it.
   */
  async bind(
    tx: Tx,
    event: KnownEvent<'hire.eco_account.created_v1'>,
    providerId: string,
    now: number,
  ): Promise<BindOutcome> {
    const p = event.payload;
    const firstTime = await tx.run(
      `INSERT INTO processed_events (event_id, event_type, exam_id, outcome, reason, received_at)
       VALUES (?, ?, NULL, 'accepted', NULL, ?) ON CONFLICT DO NOTHING`,
      [event.id, event.type, now],
    );
    if (firstTime === 0) return 'duplicate_event';
    const tenantKey = event.tenantKey ?? '';
    const existed =
      (
        await tx.all(`SELECT account_id FROM accounts WHERE tenant_key = ? AND account_id = ?`, [
          tenantKey,
          p.account_id,
        ])
      ).length > 0;
    const fields = Object.fromEntries(
      (p.custom_field_list ?? []).filter((f) => f.key).map((f) => [f.key as string, f.value ?? '']),
    );
    await tx.run(
      `INSERT INTO accounts (account_id, tenant_key, app_id, scope, name, usage_list, custom_fields, provider_id,
         published_paper_ids, bound_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)
       ON CONFLICT (tenant_key, account_id) DO UPDATE SET app_id = excluded.app_id,
         scope = excluded.scope, name = excluded.name, usage_list = excluded.usage_list,
         custom_fields = excluded.custom_fields, provider_id = excluded.provider_id, updated_at = excluded.updated_at`,
      [
        p.account_id,
        tenantKey,
        event.appId ?? '',
        p.scope ?? null,
        p.account_name ?? null,
        JSON.stringify(p.usage_list ?? []),
        JSON.stringify(fields),
        providerId,
        now,
        now,
      ],
    );
    // Background-check accounts (scope 1) have no exam papers.
    if (p.scope !== 1) await queuePaperSync(tx, tenantKey, p.account_id, `binding:${event.id}`, now);
    return existed ? 'rebound' : 'bound';
  },
};

/**
 * An account is identified by its customer tenant and its id (ids are only unique inside one Hire).
 * `reason` makes the key unique per cause: each binding, each scheduled round, each operator request.
 */
export const queuePaperSync = (
  tx: Tx,
  tenantKey: string,
  accountId: string,
  reason: string,
  now: number,
  round = false,
) =>
  enqueueJob(
    tx,
    {
      kind: 'sync_papers',
      tenantKey,
      payload: round ? { tenantKey, accountId, round: true } : { tenantKey, accountId },
      idempotencyKey: `sync_papers:${tenantKey}:${accountId}:${reason}`,
      // A scheduled round may be given up (the next one syncs again): a refusal Feishu repeats every round
      // was a dead job with its own stuck-job card every round, for each account.
      ...(round ? { maxAttempts: 3 } : {}),
    },
    now,
  );

/**
 * The scheduled round: one sync job for every bound exam account of a customer that has the app running. A
 * stopped or uninstalled customer's jobs wait for it (the outbox), so a round queued for it added a job that
 * waited with the others, every round, for good (an uninstall is for good), and a customer coming back after a
 * day had 24 syncs of each account run at once; its next round after the restart syncs it.
 */
export async function queuePaperSyncForAll(tx: Tx, round: string, now: number): Promise<number> {
  // In key order: replicas whose timers fire in the same interval queue the same keys, one statement each,
  // and a scan's order is not promised; in two different orders they could deadlock (see enqueueJobs).
  const accounts = await tx.all<{ tenant_key: string; account_id: string }>(
    `SELECT tenant_key, account_id FROM accounts
     WHERE (scope IS NULL OR scope <> 1) AND ${tenantOpen('accounts.tenant_key')}
     ORDER BY tenant_key, account_id`,
  );
  for (const { tenant_key, account_id } of accounts)
    await queuePaperSync(tx, tenant_key, account_id, `schedule:${round}`, now, true);
  return accounts.length;
}

/** Every provider's account fields, once each by key: what customers are asked for when they bind. */
export function accountFieldsOf(providers: ProviderRegistry): AccountField[] {
  const byKey = new Map<string, AccountField>();
  for (const provider of providers.providers.values())
    for (const field of provider.accountFields ?? []) if (!byKey.has(field.key)) byKey.set(field.key, field);
  return [...byKey.values()];
}

/**
 * Registers the account fields with Feishu Hire (a full replace). Keyed by the set's content: the same set
 * is registered once however often the gateway restarts; a changed set is registered again. A marketplace
 * app registers them in each customer's Hire (`tenantKey`); a self-built app in its own, once.
 */
export async function queueCustomFieldRegistration(
  tx: Tx,
  fields: AccountField[],
  now: number,
  tenantKey?: string,
): Promise<boolean> {
  if (fields.length === 0) return false;
  const version = createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 16);
  const key =
    tenantKey === undefined
      ? `register_custom_fields:${version}`
      : `register_custom_fields:${tenantKey}:${version}`;
  // Feishu keeps the set registered last (创建账号自定义字段 is a full replace): the set is current when the last
  // one queued is it. A set registered before another (a deploy rolled back to it) is registered again, under a
  // key naming the job after which it comes back, so that replicas starting together agree on it. The last
  // registration is found through idx_outbox_field_sets (migration 0016): a few rows per customer.
  const [last] = await tx.all<{ id: string; idempotency_key: string }>(
    `SELECT id, idempotency_key FROM outbox_jobs
     WHERE kind = 'register_custom_fields' AND ${tenantKey === undefined ? 'tenant_key IS NULL' : 'tenant_key = ?'}
     ORDER BY created_at DESC, id DESC LIMIT 1`,
    tenantKey === undefined ? [] : [tenantKey],
  );
  if (last && (last.idempotency_key === key || last.idempotency_key.startsWith(`${key}:after:`)))
    return false;
  return enqueueJob(
    tx,
    {
      kind: 'register_custom_fields',
      ...(tenantKey === undefined ? {} : { tenantKey }),
      payload: tenantKey === undefined ? { fields } : { fields, tenantKey },
      idempotencyKey: last ? `${key}:after:${last.id}` : key,
    },
    now,
  );
}

// workflow: the Feishu tenants the app serves. A marketplace app learns a customer from its lifecycle events
// (app_open, app_status_change, app_uninstalled) or from the first event that carries its tenant_key; it
// then fetches the customer's company name and registers the account fields in that customer's Hire.
import type { AccountField } from '@feishu-exam/exam-providers';
import { enqueueJob, enqueueJobs } from '../outbox/jobs.js';
import type { Tx } from '../store/index.js';
import type { ExamState, TenantState } from '../store/schema.js';
import { queueCustomFieldRegistration } from './accounts.js';
import { countExams, type ExamCounts } from './exam-counts.js';

/** What `app_status_change.status` means for the tenant. */
export function stateOfStatus(status: string): TenantState | undefined {
  if (status === 'start_by_tenant') return 'active';
  if (status === 'stop_by_tenant' || status === 'stop_by_platform') return 'stopped';
  return undefined;
}

export interface TenantPolicy {
  /** Marketplace: a new customer gets its name fetched and the account fields registered in its Hire. */
  readonly marketplace: boolean;
  /** The vendor's own tenant: staff, not a customer. */
  readonly staffTenantKey: string | undefined;
  readonly accountFields: readonly AccountField[];
}

export interface TenantSummary {
  readonly tenantKey: string;
  readonly name: string | null;
  readonly state: TenantState;
  readonly staff: boolean;
  readonly stateChangedAt: number | null;
  readonly firstSeenAt: number;
  /** By state: every open exam; the final states of those that arrived in the last FINAL_COUNT_DAYS (exam-counts.ts). */
  readonly exams: Partial<Record<ExamState, number>>;
}

export const tenancy = {
  /**
   * A tenant key seen on any event. A new one is recorded as active and, for a marketplace customer, gets
   * its name fetched and its account fields registered. Returns true when it was new.
   */
  async noticed(
    tx: Tx,
    tenantKey: string,
    appId: string,
    policy: TenantPolicy,
    now: number,
  ): Promise<boolean> {
    const added = await tx.run(
      `INSERT INTO tenants (tenant_key, app_id, state, name, state_changed_at, first_seen_at, updated_at)
       VALUES (?, ?, 'active', NULL, NULL, ?, ?) ON CONFLICT DO NOTHING`,
      [tenantKey, appId, now, now],
    );
    if (added === 0) return false;
    await welcome(tx, tenantKey, policy, now);
    return true;
  },

  /**
   * A lifecycle event. Events can arrive out of order (re-pushes): one sent before the last applied one
   * changes nothing. A tenant that starts again has its waiting jobs picked up by the outbox at once (they
   * were never attempted meanwhile), and every open exam's card is refreshed to say what changed.
   */
  async lifecycle(
    tx: Tx,
    tenantKey: string,
    appId: string,
    state: TenantState,
    sentAt: number,
    policy: TenantPolicy,
    now: number,
  ): Promise<'applied' | 'stale'> {
    const isNew = await tenancy.noticed(tx, tenantKey, appId, policy, now);
    const changed = await tx.run(
      `UPDATE tenants SET state = ?, state_changed_at = ?, updated_at = ?
       WHERE tenant_key = ? AND (state_changed_at IS NULL OR state_changed_at <= ?)`,
      [state, sentAt, now, tenantKey, sentAt],
    );
    if (changed === 0) return 'stale';
    if (state === 'active' && !isNew) await welcome(tx, tenantKey, policy, now, `restart:${sentAt}`);
    const open = await tx.all<{ exam_id: string }>(
      `SELECT exam_id FROM exams WHERE tenant_key = ? AND state IN ('pending_approval', 'arranging')
         AND card_message_id IS NOT NULL`,
      [tenantKey],
    );
    await enqueueJobs(
      tx,
      open.map(({ exam_id }) => ({
        kind: 'refresh_card' as const,
        examId: exam_id,
        tenantKey,
        // About the customer, not the exam: a card too old to patch is left as it is (refresh_card), where a
        // new card for every exam still open would flood the staff chat when one customer stops the app.
        payload: { because: 'tenant_state' },
        idempotencyKey: `refresh_card:${tenantKey}:${exam_id}:tenant:${state}:${sentAt}`,
      })),
      now,
    );
    return 'applied';
  },

  /**
   * Marketplace, at start: the current account fields for every customer that has the app installed (a deploy
   * may have changed them; self-built apps re-register theirs at start too). Keyed by the set's content: a
   * customer that already got this set gets nothing. A stopped customer's job waits; an uninstalled one gets
   * the set when it installs again (app_open). Returns how many were queued.
   */
  async registerFieldsForAll(tx: Tx, policy: TenantPolicy, now: number): Promise<number> {
    if (!policy.marketplace || policy.accountFields.length === 0) return 0;
    const customers = await tx.all<{ tenant_key: string }>(
      "SELECT tenant_key FROM tenants WHERE state <> 'uninstalled' ORDER BY tenant_key",
    );
    let queued = 0;
    for (const { tenant_key } of customers)
      if (
        tenant_key !== policy.staffTenantKey &&
        (await queueCustomFieldRegistration(tx, [...policy.accountFields], now, tenant_key))
      )
        queued++;
    return queued;
  },

  async nameFetched(tx: Tx, tenantKey: string, name: string, now: number): Promise<void> {
    await tx.run('UPDATE tenants SET name = ?, updated_at = ? WHERE tenant_key = ?', [name, now, tenantKey]);
  },

  /** For /admin/tenants: every tenant with its state, name, and how many exams it has in each state. */
  /** `counted`: the exam counts already read in this transaction (the admin page's exam list reads them too). */
  async list(
    tx: Tx,
    staffTenantKey: string | undefined,
    now: number,
    counted?: ExamCounts,
  ): Promise<TenantSummary[]> {
    const tenants = await tx.all<{
      tenant_key: string;
      name: string | null;
      state: TenantState;
      state_changed_at: number | string | null;
      first_seen_at: number | string;
    }>(
      'SELECT tenant_key, name, state, state_changed_at, first_seen_at FROM tenants ORDER BY first_seen_at, tenant_key',
    );
    const counts = counted ?? (await countExams(tx, now));
    return tenants.map((t) => ({
      tenantKey: t.tenant_key,
      name: t.name,
      state: t.state,
      staff: t.tenant_key === staffTenantKey,
      stateChangedAt: t.state_changed_at === null ? null : Number(t.state_changed_at),
      firstSeenAt: Number(t.first_seen_at),
      exams: { ...counts.byTenant.get(t.tenant_key) },
    }));
  },
};

/** A customer the marketplace app now serves: learn its name, and ask its Hire for the account fields. */
async function welcome(
  tx: Tx,
  tenantKey: string,
  policy: TenantPolicy,
  now: number,
  round = 'first',
): Promise<void> {
  if (!policy.marketplace) return;
  await enqueueJob(
    tx,
    {
      kind: 'fetch_tenant_name',
      tenantKey,
      payload: { tenantKey },
      idempotencyKey: `fetch_tenant_name:${tenantKey}:${round}`,
    },
    now,
  );
  if (tenantKey !== policy.staffTenantKey)
    await queueCustomFieldRegistration(tx, [...policy.accountFields], now, tenantKey);
}

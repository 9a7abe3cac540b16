// workflow: the tenants as the event handlers see them: a new tenant key is recorded once, lifecycle events
// move a tenant's state.
import type { Store, TenantState } from '../store/index.js';
import { type TenantPolicy, tenancy } from './tenants.js';

export class TenantDirectory {
  /** Tenant keys this process already recorded: one write per tenant, not one per event. */
  readonly #known = new Set<string>();

  constructor(
    private readonly store: Store,
    readonly policy: TenantPolicy,
    private readonly now: () => number,
    /** Called when jobs were queued, so the outbox picks them up at once. */
    private readonly onQueued: () => void,
  ) {}

  /** Any event's tenant key. Cheap after the first time. */
  async noticed(tenantKey: string | undefined, appId: string | undefined): Promise<void> {
    if (!tenantKey || this.#known.has(tenantKey)) return;
    const added = await this.store.write((tx) =>
      tenancy.noticed(tx, tenantKey, appId ?? '', this.policy, this.now()),
    );
    this.#known.add(tenantKey);
    if (added) this.onQueued();
  }

  /** app_open, app_status_change, app_uninstalled. `sentAt` orders them (re-pushes arrive late). */
  async lifecycle(
    tenantKey: string,
    appId: string | undefined,
    state: TenantState,
    sentAt: number,
  ): Promise<'applied' | 'stale'> {
    const outcome = await this.store.write((tx) =>
      tenancy.lifecycle(tx, tenantKey, appId ?? '', state, sentAt, this.policy, this.now()),
    );
    this.#known.add(tenantKey);
    this.onQueued();
    return outcome;
  }
}

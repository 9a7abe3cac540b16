// feishu: the SDK's token cache, kept in the database so that every replica shares one app_ticket and one
// token per tenant, and a restart needs neither a new ticket push nor new tokens.
import type * as lark from '@larksuiteoapi/node-sdk';
import type { Store } from '../store/index.js';

/**
 * The SDK's keys: `CAppTicket` and `CTenantAccessToken` are Symbols, marketplace tenant tokens the string
 * `larkMarketAccessToken<tenantKey>`, each under the app id as namespace. `String(symbol)` is stable
 * ("Symbol(app-ticket)"), as in the SDK's own DefaultCache (`${namespace}/${key.toString()}`).
 */
type SdkKey = Parameters<lark.Cache['get']>[0];

export const cacheKey = (key: SdkKey, namespace?: string) => `${namespace ?? ''}/${String(key)}`;

/** The SDK's key for a marketplace tenant's token (node-sdk TokenManager.getMarketTenantAccessToken). */
export const marketTokenKey = (tenantKey: string) => `larkMarketAccessToken${tenantKey}`;

export interface StoredCredential {
  readonly value: unknown;
  /** Epoch ms; null: no expiry. */
  readonly expiresAt: number | null;
  /** When it was written (for the app_ticket: when it arrived). */
  readonly updatedAt: number;
}

/**
 * `lark.Cache` over the `credentials` table. `expire` is an absolute epoch-ms time (not a TTL), as the SDK
 * passes it (`now + expire*1000 - 180000`); `undefined` means no expiry. A small in-process copy saves a
 * database read per call; it is only a copy: a miss reads the table, so a ticket pushed to another replica
 * is found, and a dropped token is dropped in both.
 */
export class StoreCache implements lark.Cache {
  readonly #copies = new Map<string, StoredCredential>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async set(
    key: SdkKey,
    value: unknown,
    expire?: number,
    options?: { namespace?: string },
  ): Promise<boolean> {
    await this.put(cacheKey(key, options?.namespace), value, expire ?? null);
    return true;
  }

  /**
   * Never rejects: a read that fails (the database down, or closed at shutdown) is a miss. Stricter than the
   * SDK's contract needs, because the SDK does not always wait: its AppTicketManager constructor calls
   * checkAppTicket() without awaiting it (node-sdk 1.74.0 lib/index.js), so a rejection there was unhandled,
   * and Node ends the process on one. On a miss the SDK asks Feishu again (a ticket resend, a new token),
   * and a call that then fails is retried from the outbox.
   */
  async get(key: SdkKey, options?: { namespace?: string }): Promise<unknown> {
    try {
      return (await this.read(cacheKey(key, options?.namespace)))?.value;
    } catch {
      return undefined;
    }
  }

  async put(key: string, value: unknown, expiresAt: number | null): Promise<void> {
    const now = this.now();
    await this.store.write((tx) =>
      tx.run(
        `INSERT INTO credentials (cache_key, value, expires_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (cache_key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
           updated_at = excluded.updated_at`,
        [key, JSON.stringify(value), expiresAt, now],
      ),
    );
    this.#copies.set(key, { value, expiresAt, updatedAt: now });
  }

  /**
   * `put`, unless the stored entry lives longer than `expiresAt` (checked in the database: this replica's copy
   * may be older than what another replica stored). Resolves with whether it was written.
   */
  async putUnlessOutlived(key: string, value: unknown, expiresAt: number): Promise<boolean> {
    const now = this.now();
    const written = await this.store.write((tx) =>
      tx.run(
        `INSERT INTO credentials (cache_key, value, expires_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (cache_key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
           updated_at = excluded.updated_at
         WHERE credentials.expires_at IS NULL OR credentials.expires_at <= excluded.expires_at`,
        [key, JSON.stringify(value), expiresAt, now],
      ),
    );
    if (written > 0) this.#copies.set(key, { value, expiresAt, updatedAt: now });
    else this.#copies.delete(key);
    return written > 0;
  }

  /** The entry, unless it expired. */
  async read(key: string): Promise<StoredCredential | undefined> {
    const now = this.now();
    const copy = this.#copies.get(key);
    if (copy && (copy.expiresAt === null || copy.expiresAt > now)) return copy;
    this.#copies.delete(key);
    const placeholder = this.store.dialect === 'postgres' ? '$1' : '?';
    const [row] = (await this.store.dataSource.query(
      `SELECT value, expires_at, updated_at FROM credentials WHERE cache_key = ${placeholder}`,
      [key],
    )) as Array<{ value: string; expires_at: string | number | null; updated_at: string | number }>;
    if (!row) return undefined;
    const entry: StoredCredential = {
      value: JSON.parse(row.value),
      expiresAt: row.expires_at === null ? null : Number(row.expires_at),
      updatedAt: Number(row.updated_at),
    };
    if (entry.expiresAt !== null && entry.expiresAt <= now) return undefined;
    this.#copies.set(key, entry);
    return entry;
  }

  /**
   * A slot at most once per `intervalMs` for every replica (an atomic upsert: the one whose write changes
   * the row has it). Used so that replicas together ask Feishu for a ticket at most once a minute.
   */
  async claimSlot(key: string, intervalMs: number): Promise<boolean> {
    const now = this.now();
    const changed = await this.store.write((tx) =>
      tx.run(
        `INSERT INTO credentials (cache_key, value, expires_at, updated_at) VALUES (?, 'null', NULL, ?)
         ON CONFLICT (cache_key) DO UPDATE SET updated_at = excluded.updated_at
         WHERE credentials.updated_at <= ?`,
        [key, now, now - intervalMs],
      ),
    );
    return changed > 0;
  }

  /**
   * Drops an entry here and for every replica (a rejected token, a stale ticket); given `value`, only while
   * the entry still holds it. Resolves with whether something was dropped.
   */
  async delete(key: string, value?: unknown): Promise<boolean> {
    const copy = this.#copies.get(key);
    if (value === undefined || (copy && copy.value === value)) this.#copies.delete(key);
    const dropped = await this.store.write((tx) =>
      value === undefined
        ? tx.run('DELETE FROM credentials WHERE cache_key = ?', [key])
        : tx.run('DELETE FROM credentials WHERE cache_key = ? AND value = ?', [key, JSON.stringify(value)]),
    );
    if (dropped > 0) this.#copies.delete(key);
    return dropped > 0;
  }
}

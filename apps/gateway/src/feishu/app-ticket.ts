// feishu: the marketplace app's app_ticket. Feishu pushes one about hourly to one replica; it is kept in the
// database for all of them. Without one, Feishu is asked to push one (at most once a minute).
import * as lark from '@larksuiteoapi/node-sdk';
import type { Logger } from '../log.js';
import { cacheKey, type StoreCache } from './credentials.js';

/** A ticket is valid for 3 hours after it is sent (Feishu ISV FAQ); several can be valid at once. */
export const APP_TICKET_LIFETIME_MS = 3 * 3600_000;
/** `app_ticket/resend` is answered by a push within about 2 minutes; asking more often only adds noise. */
export const RESEND_INTERVAL_MS = 60_000;

export interface AppTicketsConfig {
  readonly appId: string;
  readonly appSecret: string;
  readonly domain: string;
}

/** Posts `{app_id, app_secret}` to `auth/v3/app_ticket/resend`; resolves with Feishu's code. */
export type ResendCall = () => Promise<number | undefined>;

export class AppTickets {
  readonly #key: string;
  #lastResendAt = Number.NEGATIVE_INFINITY;
  #resending: Promise<void> | undefined;

  constructor(
    private readonly config: AppTicketsConfig,
    private readonly cache: StoreCache,
    private readonly log: Logger,
    private readonly resend: ResendCall,
    private readonly now: () => number = Date.now,
  ) {
    // The same entry the SDK's TokenManager reads (CAppTicket under the app id).
    this.#key = cacheKey(lark.CAppTicket, config.appId);
  }

  /**
   * The app_ticket event: keep the ticket for every replica, valid until 3 hours after Feishu sent it (`sentAt`,
   * the push's `ts`; a ticket's life starts when it is sent, not when it arrives). A re-push arrives late
   * (Feishu retries a push for up to 6 hours): an expired ticket is not kept, and a stored ticket that lives
   * longer is not replaced by one that was sent before it.
   */
  async receive(
    ticket: string,
    appId: string | undefined,
    sentAt?: number,
  ): Promise<'stored' | 'other_app' | 'expired' | 'older'> {
    if (appId && appId !== this.config.appId) {
      this.log.warn({ appId }, 'app_ticket for another app ignored');
      return 'other_app';
    }
    const arrivedAt = this.now();
    // A clock ahead of ours must not stretch the ticket's life past 3 hours from now.
    const expiresAt = Math.min(sentAt ?? arrivedAt, arrivedAt) + APP_TICKET_LIFETIME_MS;
    if (expiresAt <= arrivedAt) {
      this.log.warn({ sentAt, arrivedAt }, 'app_ticket pushed again after it expired: not kept');
      return 'expired';
    }
    // Compared in the database: this replica's copy of the stored ticket may be older than the one another
    // replica stored since (a late re-push of an old ticket would then replace the newer one for all).
    if (!(await this.cache.putUnlessOutlived(this.#key, ticket, expiresAt))) {
      this.log.info({ sentAt, arrivedAt }, 'app_ticket older than the stored one (a re-push): not kept');
      return 'older';
    }
    this.log.info({ arrivedAt, sentAt }, 'app_ticket received and stored');
    return 'stored';
  }

  /** Whether an unexpired ticket is stored, and when it arrived. Never the ticket itself. */
  async state(): Promise<{ present: boolean; arrivedAt: number | undefined }> {
    const entry = await this.cache.read(this.#key);
    return { present: entry !== undefined, arrivedAt: entry?.updatedAt };
  }

  /**
   * The ticket the SDK exchanges next (the entry it reads), to name it in `discard`. Never logged.
   */
  async current(): Promise<unknown> {
    return (await this.cache.read(this.#key))?.value;
  }

  /**
   * Feishu refused an app token with the ticket `stale` (10012): drop it and ask for another. Only that
   * ticket: this replica may have refused its own copy of an old one while another replica stored the new one
   * (the answer to the resend) in the database, and dropping that would leave every replica without a ticket
   * until the next push. Without `stale`, whatever is stored is dropped.
   */
  async discard(reason: string, stale?: unknown): Promise<void> {
    await this.cache.delete(this.#key, stale);
    await this.requestResend(reason);
  }

  /** Asks for a push when no valid ticket is stored. Called at start, on a schedule, and before a token fetch. */
  async ensure(reason: string): Promise<boolean> {
    if ((await this.state()).present) return true;
    await this.requestResend(reason);
    return false;
  }

  /**
   * `app_ticket/resend`, at most once a minute however many jobs, SDK clients or replicas ask: this process
   * checks its own clock first, then claims the minute in the database (the push lands on one replica
   * anyway, and is shared through the database).
   */
  requestResend(reason: string): Promise<void> {
    if (this.#resending) return this.#resending;
    if (this.now() - this.#lastResendAt < RESEND_INTERVAL_MS) {
      this.log.debug({ reason }, 'app_ticket resend asked for less than a minute ago; waiting for the push');
      return Promise.resolve();
    }
    this.#lastResendAt = this.now();
    const resending = this.#askOnce(reason).finally(() => {
      this.#resending = undefined;
    });
    this.#resending = resending;
    return resending;
  }

  async #askOnce(reason: string): Promise<void> {
    try {
      if (!(await this.cache.claimSlot(`${this.config.appId}/app-ticket-resend`, RESEND_INTERVAL_MS))) {
        this.log.debug({ reason }, 'another replica asked for an app_ticket less than a minute ago');
        return;
      }
      const code = await this.resend();
      if (code === 0)
        this.log.info({ reason }, 'no usable app_ticket: asked Feishu to push one (app_ticket/resend)');
      else this.log.error({ reason, code }, 'app_ticket/resend refused');
    } catch (err) {
      // Only the message: a transport error can carry the request, and with it the app secret.
      this.log.error({ reason, error: (err as Error).message }, 'app_ticket/resend failed');
    }
  }
}

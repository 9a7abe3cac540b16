import { isProviderError, type ProviderRegistry } from '@feishu-exam/exam-providers';
import type { Context } from 'koa';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { examLifecycle } from '../workflow/exam-lifecycle.js';
import { answerWith, readRawBody, unreadBody } from './raw-body.js';

export interface ProviderWebhookDeps {
  readonly providers: ProviderRegistry;
  readonly store: Store;
  readonly log: Logger;
  readonly maxBodyBytes: number;
  readonly now: () => number;
  /** Called when a result was recorded, so its report job runs at once. */
  readonly onResultRecorded: () => void;
}

/**
 * POST /webhook/provider/:providerId: an exam platform pushes results. The provider verifies the request
 * its own way; each result is committed (with its report job) before the platform gets its 200.
 */
export function providerWebhookHandler(deps: ProviderWebhookDeps) {
  return async (ctx: Context): Promise<void> => {
    const providerId = String(ctx.params.providerId);
    const provider = deps.providers.get(providerId);
    if (!provider?.parseResultWebhook) {
      ctx.status = 404;
      ctx.body = {
        code: 'unknown_provider',
        message: `no configured provider "${providerId}" takes result webhooks`,
      };
      return;
    }
    const raw = await readRawBody(ctx.req, deps.maxBodyBytes);
    if (!raw.ok) return answerWith(ctx, unreadBody(raw, deps.maxBodyBytes));
    let reports: Awaited<ReturnType<NonNullable<typeof provider.parseResultWebhook>>>;
    try {
      reports = await provider.parseResultWebhook({ headers: ctx.req.headers, rawBody: raw.body });
    } catch (err) {
      const refused = isProviderError(err) && !err.retryable;
      // Verified, but carrying values out of bounds (a 500 KB score, a javascript: URL): 422, not 401.
      const invalid = isProviderError(err) && err.code === 'invalid_answer';
      deps.log.warn({ providerId, error: (err as Error).message }, 'provider result webhook refused');
      ctx.status = invalid ? 422 : refused ? 401 : 503;
      ctx.body = {
        code: invalid ? 'result_invalid' : refused ? 'provider_webhook_refused' : 'provider_unavailable',
        // A ProviderError's message is written for the platform; anything else is a bug, logged above.
        message: isProviderError(err) ? err.message : 'the provider failed; try again later',
      };
      return;
    }
    const outcomes = await deps.store.write(async (tx) => {
      const out = [];
      for (const report of reports)
        out.push({
          examId: report.examId,
          outcome: await examLifecycle.resultReceived(
            tx,
            report.examId,
            provider.id,
            report.result,
            deps.now(),
          ),
        });
      return out;
    });
    if (outcomes.some((o) => o.outcome === 'recorded')) deps.onResultRecorded();
    deps.log.info({ providerId, outcomes }, 'provider results received');
    ctx.status = 200;
    ctx.body = { code: 0, results: outcomes };
  };
}

// exam-card: an exam's approval card as it stands, drawn from what the store knows. The outbox posts and patches
// it; a card callback answers with it. Both draw the same card, so a click never takes facts off the card.
import type { ProviderRegistry, Route } from '@feishu-exam/exam-providers';
import { approvalCard, type CardOptions } from '../bot/cards.js';
import { AccountEntity, type AccountRow, type ExamRow, type Store, TenantEntity } from '../store/index.js';

export interface ExamCardDeps {
  readonly store: Store;
  readonly providers: ProviderRegistry;
  readonly cardOptions: CardOptions;
  /** Marketplace: the card names the exam's customer. */
  readonly marketplace: boolean;
}

/** A new customer's name when the store has none yet; null when it cannot be learnt now. */
export type LearnCustomerName = (tenantKey: string) => Promise<string | null>;

export function examCards(deps: ExamCardDeps) {
  const { store } = deps;

  /** The platform an exam goes to: its bound account's provider, then its paper's, then the default. */
  const routeWithAccount = async (exam: ExamRow): Promise<{ account: AccountRow | null; route: Route }> => {
    const account = exam.accountId
      ? await store.findOneBy(AccountEntity, { tenantKey: exam.tenantKey, accountId: exam.accountId })
      : null;
    return {
      account,
      route: deps.providers.route({
        accountProviderId: account?.providerId,
        paperId: exam.paperId ?? undefined,
      }),
    };
  };

  const cardOptionsFor = async (
    exam: ExamRow,
    account: AccountRow | null,
    route: Route,
    now: number,
    learnName: LearnCustomerName | undefined,
  ): Promise<CardOptions> => {
    const paper = account?.publishedPapers?.find((p) => p.id === exam.paperId);
    const named: CardOptions = {
      ...deps.cardOptions,
      now,
      account: account ? { name: account.name } : undefined,
      paper,
      platform: exam.providerId ?? (route.ok ? route.provider.id : undefined),
    };
    if (!deps.marketplace) return named;
    const tenant = await store.findOneBy(TenantEntity, { tenantKey: exam.tenantKey });
    let name = tenant?.name ?? null;
    if (!name && learnName && tenant?.state !== 'stopped' && tenant?.state !== 'uninstalled') {
      name = await learnName(exam.tenantKey);
    }
    return { ...named, customer: { name, state: tenant?.state ?? 'active' } };
  };

  return {
    routeWithAccount,
    /**
     * The exam's card: names, not ids (the bound account, its paper as the platform named it, the platform it
     * goes to, marketplace: the customer's company), and why it cannot be arranged, if it cannot. `learnName`
     * may ask Feishu for a new customer's name (the outbox may; a card callback has no time to).
     */
    async approvalCardFor(
      exam: ExamRow,
      now: number,
      learnName?: LearnCustomerName,
    ): Promise<Record<string, unknown>> {
      const { account, route } = await routeWithAccount(exam);
      return approvalCard(
        exam,
        await cardOptionsFor(exam, account, route, now, learnName),
        route.ok ? undefined : route.reason,
      );
    },
  };
}

export type ExamCards = ReturnType<typeof examCards>;

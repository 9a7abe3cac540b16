// providers: one way to put something around every provider's methods (a deadline, metrics), so that each
// wrapper names only what it adds, and a method is never left out of one of them.
import type { ExamProvider, ProviderRegistry, Route } from '@feishu-exam/exam-providers';

/** The methods of ExamProvider that reach an exam platform, or (parseResultWebhook) take its call in. */
export type ProviderMethod =
  | 'createExam'
  | 'listPapers'
  | 'cancelExam'
  | 'fetchResult'
  | 'parseResultWebhook';

/** Puts something around one call of a method; `method` names it for messages and labels. */
export type MethodWrap = (
  method: ProviderMethod,
  call: (...args: unknown[]) => Promise<unknown>,
) => (...args: unknown[]) => Promise<unknown>;

/** The provider with each of `methods` it has passed through `wrap`; the methods it lacks stay absent. */
export function wrapProvider(
  provider: ExamProvider,
  methods: readonly ProviderMethod[],
  wrap: MethodWrap,
): ExamProvider {
  const wrapped: Record<string, unknown> = { ...provider };
  for (const method of methods) {
    const original = provider[method] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (original) wrapped[method] = wrap(method, (...args) => original.apply(provider, args));
  }
  return wrapped as unknown as ExamProvider;
}

/** The registry with every provider replaced by `replace(provider)`; it routes as before, to the replacements. */
export function mapProviders(
  registry: ProviderRegistry,
  replace: (provider: ExamProvider) => ExamProvider,
): ProviderRegistry {
  const replaced = new Map<string, ExamProvider>();
  for (const [id, provider] of registry.providers) replaced.set(id, replace(provider));
  const swap = (route: Route): Route =>
    route.ok ? { ...route, provider: replaced.get(route.provider.id) ?? route.provider } : route;
  return {
    providers: replaced,
    defaultProviderId: registry.defaultProviderId,
    get: (id) => replaced.get(id),
    route: (exam) => swap(registry.route(exam)),
  };
}

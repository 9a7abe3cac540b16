// exam-providers: the contract between the gateway and exam platforms, the registry that routes each exam
// to one provider, the providers file, and the built-in providers (sandbox, http). The conformance kit is at
// '@feishu-exam/exam-providers/conformance'. Platforms with their own API come as provider packages
// (packages/provider-hackerrank is the worked example).
import { httpProvider } from './http/provider.js';
import { sandboxProvider } from './sandbox.js';

export { boundProvider, isBoundedProvider } from './bounds.js';
export {
  type ConformanceCheck,
  ConformanceFailure,
  type ConformanceFixtures,
  conformanceChecks,
} from './checks.js';
export {
  loadProvidersFile,
  loadProvidersFileWithPackages,
  type ParsedProvidersFile,
  type ProviderSources,
  parseProvidersFile,
} from './config-file.js';
export {
  type AccountField,
  AnswerTooLargeError,
  type Arrangement,
  arrangementSchema,
  type BoundAccount,
  type Candidate,
  type ExamProvider,
  type ExamRef,
  type ExamRequest,
  type ExamResult,
  examResultSchema,
  isProviderError,
  isRetryableStatus,
  MAX_ANSWER_BYTES,
  type Paper,
  PROVIDER_LIMITS,
  type ProviderContext,
  ProviderError,
  paperListSchema,
  paperSchema,
  readAnswerText,
  retryAfterMs,
  type WebhookRequest,
  type WebhookResults,
  webhookResultsSchema,
} from './contract.js';
export {
  type BuildResult,
  defaultProviderContext,
  defineProvider,
  OptionsError,
  type OptionsIssue,
  type ProviderDefinition,
  type ProviderFactory,
} from './define.js';
export { httpOptions, httpProvider } from './http/provider.js';
export { httpProviderReference } from './http/reference.js';
export {
  isProviderFactory,
  loadProviderPackages,
  type PackageFactory,
  type PackageImport,
  type PackageLoader,
  providerFactoryOf,
} from './packages.js';
export {
  createProviderRegistry,
  type ProviderConfig,
  type ProviderRegistry,
  type RegistryConfig,
  type RegistryResult,
  type Route,
} from './registry.js';
export {
  createSandboxProvider,
  SANDBOX_WEBHOOK_SECRET_ENV,
  type SandboxOptions,
  sandboxOptions,
  sandboxProvider,
} from './sandbox.js';

/** Every provider type this package ships. */
export const builtInProviders = [sandboxProvider, httpProvider] as const;

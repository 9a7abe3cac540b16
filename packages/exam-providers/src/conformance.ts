// The provider conformance kit: every provider package runs it in its own vitest suite, as storage drivers
// run a shared contract suite. Imported from '@feishu-exam/exam-providers/conformance' (it needs vitest).
// The checks themselves are plain functions (./checks.ts): `feishu-exam providers test` runs the same ones
// against a live platform.
import { describe, it } from 'vitest';
import { type ConformanceFixtures, conformanceChecks } from './checks.js';
import type { ProviderFactory } from './define.js';

export {
  type ConformanceCheck,
  ConformanceFailure,
  type ConformanceFixtures,
  conformanceChecks,
} from './checks.js';

export function runProviderConformance(factory: ProviderFactory, fixtures: ConformanceFixtures): void {
  describe(`provider ${factory.id}: conformance`, () => {
    for (const check of conformanceChecks(factory, fixtures)) it(check.name, () => check.run());
  });
}

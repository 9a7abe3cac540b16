import { resolve } from 'node:path';
import {
  type ConformanceFixtures,
  conformanceChecks,
  defaultProviderContext,
} from '@feishu-exam/exam-providers';
import { providerEntryFromFile } from '../providers/load.js';
import type { CliIo } from './output.js';

export interface LiveTestOptions {
  readonly provider: string;
  readonly paper: string;
  readonly email: string;
  readonly name?: string | undefined;
  /** Feishu's exam id to arrange under; default a fresh one, so a rerun arranges a new exam. */
  readonly examId?: string | undefined;
  /** The bound account's custom fields, "key=value". */
  readonly field?: readonly string[] | undefined;
  readonly timeoutMs?: number | undefined;
}

/**
 * `feishu-exam providers test <file> --provider <id> --paper … --email …`: the conformance kit's checks run
 * against the live platform the file points at (a vendor's staging). It arranges a real exam there.
 */
export async function liveTest(
  file: string,
  options: LiveTestOptions,
  io: CliIo,
  now = Date.now,
): Promise<number> {
  const entry = await providerEntryFromFile(resolve(io.cwd, file), options.provider);
  if (!entry.ok) {
    for (const error of entry.errors) io.err(error);
    return 1;
  }
  const fields = Object.fromEntries(
    (options.field ?? []).map((f) => {
      const at = f.indexOf('=');
      return at < 0 ? [f, ''] : [f.slice(0, at), f.slice(at + 1)];
    }),
  );
  const fixtures: ConformanceFixtures = {
    options: entry.options,
    invalidOptions: [],
    request: {
      examId: options.examId ?? `feishu-exam-cli-${now()}`,
      paperId: options.paper,
      candidate: { name: options.name ?? 'feishu-exam test candidate', email: options.email },
      account: { accountId: 'feishu-exam-cli', fields },
    },
    context: defaultProviderContext(io.env),
    timeoutMs: options.timeoutMs ?? 30_000,
  };
  const checks = conformanceChecks(entry.factory, fixtures);
  io.out(
    `provider ${options.provider} (${entry.factory.id}): ${checks.length} checks against the live platform`,
  );
  let failed = 0;
  for (const [index, check] of checks.entries()) {
    const progress = `[${index + 1}/${checks.length}]`;
    io.out(`${progress} … ${check.name}`);
    const started = now();
    try {
      await check.run();
      io.out(`${progress} ✓ ${check.name} (${now() - started} ms)`);
    } catch (err) {
      failed++;
      io.out(`${progress} ✗ ${check.name}: ${(err as Error).message}`);
    }
  }
  io.out(
    failed === 0 ? `✓ all ${checks.length} checks passed` : `✗ ${failed} of ${checks.length} checks failed`,
  );
  return failed === 0 ? 0 : 1;
}

import { resolve } from 'node:path';
import { defaultProviderContext } from '@feishu-exam/exam-providers';
import { loadProvidersFromFile } from '../providers/load.js';
import type { CliIo } from './output.js';

/**
 * `feishu-exam providers check <file>`: builds every provider of the file exactly as the gateway's start
 * does (packages imported, options validated, secrets looked up in the environment), with no database and
 * no Feishu. Exit 0 and one line per provider, or exit 1 and one line per problem.
 */
export async function checkProvidersFile(file: string, io: CliIo): Promise<number> {
  const path = resolve(io.cwd, file);
  const result = await loadProvidersFromFile(path, defaultProviderContext(io.env));
  if (!result.ok) {
    for (const error of result.errors) io.err(error);
    io.err(`✗ ${file}: ${result.errors.length} problem(s); the gateway would not start with this file`);
    return 1;
  }
  const { providers, defaultProviderId } = result.registry;
  for (const provider of providers.values()) {
    const what = [
      provider.listPapers ? 'papers' : undefined,
      provider.fetchResult ? 'polled results' : undefined,
      provider.parseResultWebhook ? 'result webhook' : undefined,
      provider.accountFields?.length
        ? `account fields: ${provider.accountFields.map((f) => f.key).join(', ')}`
        : undefined,
    ].filter(Boolean);
    io.out(
      `  ${provider.id}${provider.id === defaultProviderId ? ' (default)' : ''}${what.length ? `: ${what.join('; ')}` : ''}`,
    );
  }
  io.out(`✓ ${file}: ${providers.size} provider(s) build`);
  return 0;
}

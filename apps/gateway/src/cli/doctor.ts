// `feishu-exam doctor`: checks a deployment the way the gateway will use it, one line per check with what to
// fix, and changes nothing: no message is sent, no migration is run, no exam is arranged.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultProviderContext, type ProviderRegistry } from '@feishu-exam/exam-providers';
import { pino } from 'pino';
import { configWarnings, type GatewayConfig, loadConfig, secretValues } from '../config.js';
import { callOpenApi, FeishuClients } from '../feishu/clients.js';
import { textScrubber } from '../log.js';
import { buildProviders, checkSimulatedProviders } from '../server.js';
import { openStore, type Store } from '../store/index.js';
import type { CliIo } from './output.js';

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What to do when it failed. */
  readonly fix?: string;
}

const PROVIDER_CHECK_TIMEOUT_MS = 15_000;

export async function doctor(io: CliIo): Promise<number> {
  const checks: Check[] = [];
  // What a check prints may repeat what a far side was given (a database driver, Feishu's msg, a platform's
  // error): once the configuration is read, through the same net of secrets as the gateway's log.
  let scrub = (text: string) => text;
  const report = (check: Check) => {
    checks.push(check);
    const line = `${check.ok ? '✓' : '✗'} ${check.name}: ${scrub(check.detail)}`;
    if (check.ok) io.out(line);
    else io.err(check.fix ? `${line}\n    fix: ${check.fix}` : line);
  };

  const loaded = loadConfig(io.env);
  if (!loaded.ok) {
    for (const error of loaded.errors)
      report({ name: 'configuration', ok: false, detail: error, fix: 'see .env.example and the README' });
    return 1;
  }
  const config = loaded.config;
  scrub = textScrubber(secretValues(config, io.env));
  report({ name: 'configuration', ok: true, detail: 'every variable is valid' });
  // What the gateway warns about at every start: settings that work but leave a hole open. Not failures.
  for (const warning of configWarnings(config)) io.out(`! configuration: ${scrub(warning)}`);

  const silent = pino({ level: 'silent' });
  let store: Store | undefined;
  // Opening a SQLite file that is not there would create it (and its folder): a typo in DATABASE_URL would
  // leave an empty database behind, reported as merely unmigrated.
  const sqliteFile = config.databaseUrl.startsWith('sqlite:')
    ? config.databaseUrl.slice('sqlite:'.length)
    : undefined;
  if (sqliteFile !== undefined && sqliteFile !== ':memory:' && !existsSync(resolve(io.cwd, sqliteFile)))
    report({
      name: 'database',
      ok: false,
      detail: `no database at ${resolve(io.cwd, sqliteFile)}`,
      fix: 'check DATABASE_URL; for a new deployment, `feishu-exam db migrate` creates it',
    });
  else
    try {
      store = await openStore(config.databaseUrl, silent, {
        migrate: false,
        sqliteDriver: config.sqliteDriver,
      });
      const pending = await store.dataSource.showMigrations();
      report(
        pending
          ? {
              name: 'database',
              ok: false,
              detail: 'reachable, but migrations are pending',
              fix: 'run `feishu-exam db migrate` (or start the gateway, which migrates at start)',
            }
          : { name: 'database', ok: true, detail: 'reachable and migrated' },
      );
    } catch (err) {
      report({
        name: 'database',
        ok: false,
        detail: (err as Error).message,
        fix: 'check DATABASE_URL, that the database runs, and that this user may open it',
      });
    }

  await checkFeishu(config, store, report);
  await store?.close();

  let providers: ProviderRegistry | undefined;
  try {
    providers = await buildProviders(config, defaultProviderContext(io.env));
  } catch (err) {
    const problems = (err as { problems?: string[] }).problems ?? [(err as Error).message];
    for (const problem of problems)
      report({
        name: 'providers',
        ok: false,
        detail: problem,
        fix: 'check it with `feishu-exam providers check`',
      });
  }
  // What the start refuses besides the file itself: a simulated platform under NODE_ENV=production.
  try {
    if (providers) checkSimulatedProviders(config, providers, silent);
  } catch (err) {
    providers = undefined;
    for (const problem of (err as { problems?: string[] }).problems ?? [(err as Error).message])
      report({
        name: 'providers',
        ok: false,
        detail: problem,
        fix: 'declare the real exam platform in PROVIDERS_FILE (or ALLOW_SANDBOX_PROVIDER=true for staging)',
      });
  }
  for (const provider of providers?.providers.values() ?? []) {
    if (!provider.listPapers) {
      report({
        name: `provider ${provider.id}`,
        ok: true,
        detail: 'built (it is called only to arrange an exam)',
      });
      continue;
    }
    try {
      const papers = await withTimeout(provider.listPapers(undefined), PROVIDER_CHECK_TIMEOUT_MS);
      report({ name: `provider ${provider.id}`, ok: true, detail: `answers (${papers.length} papers)` });
    } catch (err) {
      report({
        name: `provider ${provider.id}`,
        ok: false,
        detail: `does not answer: ${(err as Error).message}`,
        fix: 'check its baseUrl, its API key in the environment, and that the platform is up',
      });
    }
  }

  const failed = checks.filter((c) => !c.ok).length;
  if (failed === 0) io.out('✓ all checks passed');
  else io.err(`✗ ${failed} check(s) failed`);
  return failed === 0 ? 0 : 1;
}

/** A token, then the staff chat: the bot must be in it to post the cards. */
async function checkFeishu(config: GatewayConfig, store: Store | undefined, report: (c: Check) => void) {
  const clients = new FeishuClients(
    {
      appId: config.appId,
      appSecret: config.appSecret,
      domain: config.feishuDomain,
      timeoutMs: config.feishuTimeoutMs,
      appType: config.appType,
      staffTenantKey: config.staffTenantKey,
    },
    pino({ level: 'silent' }),
    store ? { store } : {},
  );
  const staff = clients.forStaff();
  try {
    await callOpenApi(staff, 'im.v1.chat.get', () =>
      staff.client.im.v1.chat.get(
        { path: { chat_id: encodeURIComponent(config.approvalChatId) } },
        staff.options,
      ),
    );
    report({ name: 'Feishu token', ok: true, detail: `a tenant access token for ${config.appId}` });
    report({ name: 'staff chat', ok: true, detail: `the bot can see ${config.approvalChatId}` });
  } catch (err) {
    const e = err as { failure?: string; message?: string; noToken?: boolean };
    if (
      e.noToken ||
      e.failure === 'token_invalid' ||
      /access[_ ]token|app_ticket|10003|10014/i.test(e.message ?? '')
    ) {
      report({
        name: 'Feishu token',
        ok: false,
        detail: e.message ?? String(err),
        fix:
          config.appType === 'marketplace'
            ? 'check FEISHU_APP_ID and FEISHU_APP_SECRET, and that an app_ticket has arrived (start the gateway once)'
            : 'check FEISHU_APP_ID and FEISHU_APP_SECRET (developer console › 凭证与基础信息)',
      });
      return;
    }
    if (e.failure === 'unavailable') {
      report({
        name: 'Feishu',
        ok: false,
        detail: e.message ?? String(err),
        fix: `check FEISHU_DOMAIN (${config.feishuDomain}) and that this host can reach it`,
      });
      return;
    }
    report({ name: 'Feishu token', ok: true, detail: `a tenant access token for ${config.appId}` });
    report({
      name: 'staff chat',
      ok: false,
      detail: `the bot cannot see ${config.approvalChatId}: ${e.message ?? String(err)}`,
      fix: 'add the bot to the staff chat (群设置 › 群机器人), and check APPROVAL_CHAT_ID and the scope im:chat:readonly',
    });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// The gateway's lifecycle. Start: database (migrated) → outbox worker → HTTP. Stop (SIGTERM): not ready →
// stop taking requests and finish in-flight ones → finish in-flight jobs → close the database.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  builtInProviders,
  createProviderRegistry,
  defaultProviderContext,
  type ProviderContext,
  type ProviderRegistry,
} from '@feishu-exam/exam-providers';
import { configWarnings, type GatewayConfig, redactDatabaseUrl } from './config.js';
import { createEventDispatcher } from './events/index.js';
import type { PushDeps } from './events/push.js';
import { FeishuClients } from './feishu/clients.js';
import { LongConnection, longConnectionHandler } from './feishu/long-connection.js';
import { type AppDeps, createApp, requestListener } from './http/app.js';
import { listenForMetrics } from './http/metrics.js';
import { answerClientError, HTTP_SERVER_OPTIONS } from './http/server-options.js';
import { keepOutOfLog, type Logger } from './log.js';
import { GatewayMetrics, JOB_COUNT_SQL, type JobCount } from './metrics.js';
import { jobHealth, pruneFinishedJobs } from './outbox/jobs.js';
import { planLease } from './outbox/lease.js';
import { OutboxWorker } from './outbox/worker.js';
import { withDeadlines } from './providers/deadline.js';
import { loadProvidersFromFile } from './providers/load.js';
import { openStore, type Store, type Tx } from './store/index.js';
import { DEFAULT_READINESS, type ReadinessOptions, readinessProbe } from './store/readiness.js';
import { accountFieldsOf, queueCustomFieldRegistration, queuePaperSyncForAll } from './workflow/accounts.js';
import { examCards } from './workflow/exam-card.js';
import { ERASE_BATCH, examLifecycle } from './workflow/exam-lifecycle.js';
import { ExamIngest } from './workflow/ingest.js';
import { workflowJobs } from './workflow/jobs.js';
import { TenantDirectory } from './workflow/tenant-directory.js';
import { tenancy } from './workflow/tenants.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/**
 * How long a shutdown waits for the jobs in flight before giving them back: within main.ts's 10 s bound, with
 * time left to close the database.
 */
export const SHUTDOWN_JOB_WAIT_MS = 8_000;
/** How many finished jobs the upkeep deletes a transaction. */
const PRUNE_BATCH = 1000;

export interface RunningGateway {
  readonly url: string;
  readonly server: Server;
  readonly store: Store;
  readonly worker: OutboxWorker;
  readonly metrics: GatewayMetrics;
  /** The metrics port's URL, when METRICS_PORT is set. */
  readonly metricsUrl: string | undefined;
  /** The exam platforms in use, the default first: for the start-up line. */
  readonly providerIds: readonly string[];
  /** Stops taking requests, lets in-flight requests and jobs finish, closes the database. Idempotent. */
  close(): Promise<void>;
}

export interface GatewayOverrides {
  readonly providers?: ProviderRegistry;
  readonly now?: () => number;
  /** /readyz's probe: its deadline, free-space floor and statfs (tests replace them). */
  readonly readiness?: Partial<ReadinessOptions>;
}

export async function startGateway(
  config: GatewayConfig,
  log: Logger,
  overrides: GatewayOverrides = {},
): Promise<RunningGateway> {
  const now = overrides.now ?? Date.now;
  // Configuration first: a broken providers file must stop the start before anything is opened.
  const providers = overrides.providers ?? (await buildProviders(config, providerContext(log)));
  for (const warning of configWarnings(config)) log.warn(warning);
  checkSimulatedProviders(config, providers, log);
  const store = await openStore(config.databaseUrl, log, { sqliteDriver: config.sqliteDriver }).catch(
    (err: unknown) => {
      throw new StartupConfigError([
        `DATABASE_URL ${redactDatabaseUrl(config.databaseUrl)}: the database cannot be opened: ${(err as Error).message}`,
      ]);
    },
  );
  const metrics = new GatewayMetrics({
    now,
    processMetrics: config.metrics.token !== undefined || config.metrics.port !== undefined,
    countJobs: () => store.dataSource.query<JobCount[]>(JOB_COUNT_SQL),
  });
  const clients = new FeishuClients(
    {
      appId: config.appId,
      appSecret: config.appSecret,
      domain: config.feishuDomain,
      timeoutMs: config.feishuTimeoutMs,
      onCall: (api, error, started) => metrics.openApiCall(api, error, started),
      appType: config.appType,
      staffTenantKey: config.staffTenantKey,
    },
    log,
    { store, now },
  );
  // A job's lease outlasts the slowest call it can make (outbox/lease.ts).
  const lease = planLease(config.outbox.leaseMs, [
    config.feishuTimeoutMs,
    ...[...providers.providers.values()].flatMap((p) => (p.callTimeoutMs ? [p.callTimeoutMs] : [])),
  ]);
  if (lease.raised)
    log.warn(
      {
        configuredLeaseMs: config.outbox.leaseMs,
        leaseMs: lease.leaseMs,
        longestCallMs: lease.longestCallMs,
      },
      'OUTBOX_LEASE_MS is shorter than twice the longest call timeout; the lease was raised',
    );
  // The exam platforms as the jobs call them: each call given up at its deadline, counted and timed. The cards
  // route with the same registry: `arrange` calls the provider its route names.
  const platforms = metrics.observeProviders(withDeadlines(providers, config.outbox.providerDeadlineMs));
  // The exams' approval cards: the outbox posts and patches them, a card callback answers with them.
  const cards = examCards({
    store,
    providers: platforms,
    cardOptions: { showContact: config.showCandidateContact },
    marketplace: Boolean(clients.marketplace),
  });
  // Acknowledging exam events is what Feishu waits for: while events wait for their commit, the worker runs
  // fewer jobs at once (it never stops claiming them), and while they arrive faster than they commit it gives way
  // in proportion (worker.ts, PRIORITY_ITEMS_PER_JOB).
  const ingest = new ExamIngest(store, now, () => worker.wake());
  const worker = new OutboxWorker(
    store,
    metrics.observeJobs(
      workflowJobs({
        store,
        clients,
        providers: platforms,
        approvalChatId: config.approvalChatId,
        cards,
        onCardPosted: (exam) => metrics.cardPosted(exam.receivedAt),
        now,
      }),
    ),
    log.child({ component: 'outbox' }),
    { ...config.outbox, leaseMs: lease.leaseMs, now, busy: () => ingest.busy, priority: ingest },
  );
  const tenants = new TenantDirectory(
    store,
    {
      marketplace: clients.marketplace,
      staffTenantKey: config.staffTenantKey,
      accountFields: accountFieldsOf(providers),
    },
    now,
    () => worker.wake(),
  );

  const dispatcher = createEventDispatcher({
    store,
    worker,
    ingest,
    now,
    // A card callback answers with the card the outbox draws, from the store only (no time to ask Feishu).
    cardOf: (exam) => cards.approvalCardFor(exam, now()),
    approverOpenIds: new Set(config.approverOpenIds),
    accountProviderId:
      providers.defaultProviderId ?? [...providers.providers.keys()][0] ?? config.examProvider,
    tenants,
    tickets: clients.tickets,
    staffTenantKey: config.staffTenantKey,
    approvalChatId: config.approvalChatId,
  });
  const onPush: PushDeps['onPush'] = (type, outcome, started, code) =>
    metrics.push(type, outcome, started, code);
  const recordRejectedEvent = (event: { id: string; type: string }, reason: string) =>
    store.write((tx) => examLifecycle.recordRejectedEvent(tx, event.id, event.type, reason, now()));
  // FEISHU_TRANSPORT=websocket: events and card callbacks arrive over the connection we dial; same pipeline.
  const longConnection =
    config.transport === 'websocket'
      ? new LongConnection({
          appId: config.appId,
          appSecret: config.appSecret,
          domain: config.feishuDomain,
          ...config.longConnection,
          log: log.child({ component: 'long-connection' }),
          handle: longConnectionHandler(
            { dispatcher, recordRejectedEvent, onPush, log, secrets: { encryptKey: config.encryptKey } },
            config.maxBodyBytes,
          ),
        })
      : undefined;

  let ready = false;
  const appDeps: AppDeps = {
    log,
    feishuConnection: longConnection ? () => longConnection.status() : undefined,
    isReady: () => ready,
    readiness: readinessProbe(
      store,
      config.databaseUrl,
      { ...DEFAULT_READINESS, now, ...overrides.readiness },
      jobHealth,
    ),
    maxBodyBytes: config.maxBodyBytes,
    dispatcher,
    onPush,
    recordRejectedEvent,
    secrets: {
      encryptKey: config.encryptKey,
      verificationToken: config.verificationToken,
      toleranceSeconds: config.signatureToleranceSeconds,
      maxBodyBytes: config.maxBodyBytes,
    },
    admin: {
      store,
      adminToken: config.adminToken,
      now,
      onRetry: () => worker.wake(),
      staffTenantKey: config.staffTenantKey,
    },
    metrics: { metrics, token: config.metrics.token, port: config.metrics.port },
    providerWebhook: {
      providers,
      store,
      log,
      maxBodyBytes: config.maxBodyBytes,
      now,
      onResultRecorded: () => worker.wake(),
    },
  };

  const server = createServer(HTTP_SERVER_OPTIONS, requestListener(createApp(appDeps), appDeps));
  server.on('clientError', answerClientError);
  server.listen({ host: config.host, port: config.port });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const metricsServer =
    config.metrics.port === undefined
      ? undefined
      : await listenForMetrics(config.host, config.metrics.port, metrics, log).catch(async (err: unknown) => {
          server.close();
          await store.close();
          throw new StartupConfigError([
            `METRICS_PORT ${config.metrics.port}: cannot listen on ${config.host}: ${(err as Error).message}`,
          ]);
        });
  // The fields customers fill in when they bind an account: registered once per distinct set. A marketplace
  // app registers them in each customer's Hire when the customer first appears (workflow/tenants.ts), and
  // here in every installed customer's, so that a changed set reaches the customers it already has.
  if (!clients.marketplace)
    await store.write((tx) => queueCustomFieldRegistration(tx, accountFieldsOf(providers), now()));
  else await store.write((tx) => tenancy.registerFieldsForAll(tx, tenants.policy, now()));
  // Marketplace: without an app_ticket no token can be had. Ask for one now if none is stored, and check
  // every minute (a ticket lives 3 h; Feishu pushes about hourly, a missed push must not go unnoticed).
  const tickets = clients.tickets;
  const ticketCheck = tickets
    ? setInterval(
        () => void tickets.ensure('the stored app_ticket expired').catch(() => undefined),
        60_000,
      ).unref()
    : undefined;
  if (tickets) await tickets.ensure('the gateway started without a stored app_ticket');
  if (config.outbox.enabled) worker.start();
  /**
   * A recurring round of jobs, named by the interval it falls in (its start): each round's idempotency keys
   * are new, and replicas whose timers fire in the same interval queue one round between them, not one each.
   */
  const everyRound = (
    intervalMs: number,
    what: string,
    queue: (tx: Tx, round: string, now: number) => Promise<number>,
  ) =>
    config.outbox.enabled && intervalMs > 0
      ? setInterval(() => {
          const at = now();
          const round = at - (at % intervalMs);
          store
            .write((tx) => queue(tx, String(round), at))
            .then((queued) => queued > 0 && worker.wake())
            .catch((err: unknown) => log.error({ err }, `could not schedule the ${what}`));
        }, intervalMs).unref()
      : undefined;
  // Papers change on the platforms; platforms that cannot push results are asked for them.
  const paperSync = everyRound(config.paperSyncIntervalMs, 'paper sync', queuePaperSyncForAll);
  // Only the exams of platforms that can be asked (fetchResult): the others send their results (a webhook), and a
  // poll job for each of their exams, every round, found nothing to ask.
  const polled = [...providers.providers.values()].filter((p) => p.fetchResult).map((p) => p.id);
  // And only for RESULT_POLL_DAYS after the arrangement was reported: an exam whose candidate never sits would
  // otherwise cost a call to its platform every round, for good.
  const reportedSince = (at: number) => (config.resultPollDays > 0 ? at - config.resultPollDays * DAY_MS : 0);
  const resultPoll =
    polled.length > 0
      ? everyRound(config.resultPollIntervalMs, 'result polls', (tx, round, at) =>
          examLifecycle.queueResultPolls(tx, round, at, polled, reportedSince(at)),
        )
      : undefined;
  // The hourly upkeep, and at start: personal data of exams ended RETENTION_DAYS ago is erased, and jobs finished
  // JOB_HISTORY_DAYS ago are deleted. Each a batch a transaction, and the next batch at once (after whatever
  // waits on the event loop) until none is left: one batch an hour took a backlog (RETENTION_DAYS first set on a
  // year of exams) months. A shutdown stops after the batch under way.
  let stopping = false;
  const untilDone = async (batch: (tx: Tx, at: number) => Promise<number>, size: number) => {
    let done = 0;
    for (;;) {
      const taken = await store.write((tx) => batch(tx, now()));
      done += taken;
      if (taken < size || stopping) return done;
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const upkeep = async () => {
    if (config.retentionDays > 0) {
      const erased = await untilDone(
        (tx, at) => examLifecycle.erasePersonalData(tx, at - config.retentionDays * DAY_MS, at, ERASE_BATCH),
        ERASE_BATCH,
      );
      if (erased > 0) log.info({ erased }, 'personal data of ended exams erased (retention)');
    }
    if (config.jobHistoryDays > 0 && !stopping) {
      const deleted = await untilDone(
        (tx, at) => pruneFinishedJobs(tx, at - config.jobHistoryDays * DAY_MS, PRUNE_BATCH),
        PRUNE_BATCH,
      );
      if (deleted > 0) log.info({ deleted }, 'finished jobs deleted (JOB_HISTORY_DAYS)');
    }
  };
  let upkeeping: Promise<unknown> | undefined;
  const upkeepRound = () => {
    // A round still working through a backlog when the next is due goes on alone.
    upkeeping ??= upkeep()
      .catch((err: unknown) => log.error({ err }, 'the hourly upkeep failed (erasure, finished jobs)'))
      .finally(() => {
        upkeeping = undefined;
      });
  };
  const upkeepTimer =
    config.retentionDays > 0 || config.jobHistoryDays > 0
      ? setInterval(upkeepRound, HOUR_MS).unref()
      : undefined;
  if (upkeepTimer) upkeepRound();
  longConnection?.start();
  ready = true;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    server,
    store,
    worker,
    metrics,
    metricsUrl: metricsServer
      ? `http://${host}:${(metricsServer.address() as AddressInfo).port}/metrics`
      : undefined,
    providerIds: [
      ...new Set(
        [providers.defaultProviderId, ...providers.providers.keys()].filter((id) => id !== undefined),
      ),
    ],
    close() {
      closing ??= (async () => {
        ready = false;
        stopping = true;
        clearInterval(paperSync);
        clearInterval(resultPoll);
        clearInterval(ticketCheck);
        clearInterval(upkeepTimer);
        // No job is claimed from here on: one started now could be cut by the 10 s bound. Those running finish;
        // a job queued by a request still in flight is committed with it, and a restart (or a replica) runs it.
        // A job still running SHUTDOWN_JOB_WAIT_MS from now is given back rather than cut by the 10 s bound with
        // its lease held (another worker, or this gateway restarted, would wait the lease out before running it).
        const workerStopped = worker.stop(SHUTDOWN_JOB_WAIT_MS);
        // Frames being handled are acknowledged first; new ones are refused, so Feishu sends them elsewhere.
        await longConnection?.close();
        await Promise.all(
          [server, metricsServer].map(
            (s) =>
              s &&
              new Promise<void>((resolve) => {
                s.close(() => resolve());
                s.closeIdleConnections();
                // A client stalling its request (a body never finished) must not hold the shutdown past its bound.
                setTimeout(() => s.closeAllConnections(), 5_000).unref();
              }),
          ),
        );
        await workerStopped;
        await upkeeping;
        await store.close();
      })();
      return closing;
    },
  };
}

/** A configuration mistake found while starting: the process reports each line and exits with EX_CONFIG. */
export class StartupConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'StartupConfigError';
  }
}

/**
 * The sandbox arranges fake exams: a candidate sent there never gets a real one. Outside the demo (which sets
 * ALLOW_SANDBOX_PROVIDER) that is said loudly at every start, and with NODE_ENV=production it stops the start.
 */
export function checkSimulatedProviders(
  config: GatewayConfig,
  providers: ProviderRegistry,
  log: Logger,
): void {
  if (config.allowSandboxProvider) return;
  const simulated = [...providers.providers.values()].filter((p) => p.simulated).map((p) => p.id);
  if (simulated.length === 0) return;
  const what = `the exam provider(s) ${simulated.join(', ')} are simulated (the sandbox): candidates routed there get fake exams`;
  if (config.production)
    throw new StartupConfigError([
      `${what}; NODE_ENV=production refuses them. Configure a real platform (PROVIDERS_FILE), or set ALLOW_SANDBOX_PROVIDER=true for a staging system`,
    ]);
  log.warn(
    { providers: simulated },
    `WARNING: ${what}. Configure a real platform with PROVIDERS_FILE; ALLOW_SANDBOX_PROVIDER=true silences this for a demo or staging system`,
  );
}

/**
 * What the exam providers are given: every secret a provider reads is written out of the log from then on,
 * whatever its variable is called (secretValues finds secrets by their variables' names, and a provider's may
 * be named ACME_PASS or EXAMCO_PIN).
 */
function providerContext(log: Logger): ProviderContext {
  const base = defaultProviderContext();
  return {
    ...base,
    secret: (name) => {
      const value = base.secret(name);
      keepOutOfLog(log, value);
      return value;
    },
  };
}

/**
 * The exam platforms: those PROVIDERS_FILE declares, or else the one EXAM_PROVIDER names. The default one
 * takes exams that neither an account nor a paper routes, and is assigned to newly bound accounts.
 */
export async function buildProviders(
  config: GatewayConfig,
  ctx = defaultProviderContext(),
): Promise<ProviderRegistry> {
  const result = config.providersFile
    ? await loadProvidersFromFile(config.providersFile, ctx)
    : createProviderRegistry(
        builtInProviders,
        {
          providers: [{ id: config.examProvider, type: config.examProvider }],
          defaultProvider: config.examProvider,
        },
        ctx,
      );
  if (!result.ok) throw new StartupConfigError(result.errors);
  return result.registry;
}

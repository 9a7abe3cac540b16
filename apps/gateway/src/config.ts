// config: every setting the gateway reads, validated once at start. The rest of the code gets typed values.
import { z } from 'zod';
import { DEFAULT_SQLITE_DRIVER, SQLITE_DRIVERS, type SqliteDriver } from './store/driver.js';

const optionalSecret = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const port = z.coerce
  .number({ error: 'must be a whole number from 0 to 65535' })
  .int('must be a whole number from 0 to 65535')
  .min(0, 'must be a whole number from 0 to 65535')
  .max(65535, 'must be a whole number from 0 to 65535');

/**
 * A whole number within bounds, its unit in the message: "FEISHU_TIMEOUT_MS must be a whole number of
 * milliseconds from 100 to 120000" says what to write, where zod's own "expected number, received NaN" does not.
 */
function wholeNumber(unit: 'milliseconds' | 'bytes' | 'seconds' | '', min: number, max?: number) {
  const message = `must be a whole number${unit ? ` of ${unit}` : ''}${
    max === undefined ? `, at least ${min}` : ` from ${min} to ${max}`
  }`;
  const bounded = z.coerce.number({ error: message }).int(message).min(min, message);
  return max === undefined ? bounded : bounded.max(max, message);
}

/** A whole number of days, 0 or more; the message says what 0 means. */
function wholeDays(zeroMeans: string) {
  const message = `must be a whole number of days (${zeroMeans})`;
  return z.coerce.number({ error: message }).int(message).min(0, message);
}

/** Where the database is when DATABASE_URL is not set (the gateway and the `feishu-exam db` commands). */
export const DEFAULT_DATABASE_URL = 'sqlite:./data/feishu-exam.sqlite';

const envSchema = z.object({
  FEISHU_APP_ID: z
    .string({ error: 'is required: the App ID from the developer console (cli_…)' })
    .regex(
      /^cli_[A-Za-z0-9]+$/,
      'must be an App ID such as cli_a1b2c3d4e5f6 (developer console › 凭证与基础信息)',
    ),
  FEISHU_APP_SECRET: z
    .string({ error: 'is required: the App Secret from the developer console' })
    .min(1, 'is empty'),
  FEISHU_VERIFICATION_TOKEN: optionalSecret,
  FEISHU_ENCRYPT_KEY: optionalSecret,
  FEISHU_APP_TYPE: z
    .enum(['self_built', 'marketplace'], {
      error:
        'must be self_built (an app inside one Feishu tenant) or marketplace (a store app many customers install)',
    })
    .default('self_built'),
  FEISHU_STAFF_TENANT_KEY: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
  FEISHU_DOMAIN: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://open.feishu.cn' })
    .default('https://open.feishu.cn')
    .transform((v) => v.replace(/\/+$/, ''))
    // Copied from an API page (https://open.feishu.cn/open-apis/…): the SDK adds /open-apis itself.
    .refine((v) => !/\/open-apis$/i.test(v), {
      message:
        'must be the Open Platform origin without /open-apis (the SDK adds it), such as https://open.feishu.cn',
    }),
  FEISHU_TIMEOUT_MS: wholeNumber('milliseconds', 100, 120_000).default(15_000),
  FEISHU_TRANSPORT: z
    .enum(['webhook', 'websocket'], {
      error: 'must be webhook (Feishu posts to /webhook/*) or websocket (the gateway dials Feishu)',
    })
    .default('webhook'),
  FEISHU_WS_LIVENESS_MS: wholeNumber('milliseconds', 100).default(180_000),
  FEISHU_WS_READY_GRACE_MS: wholeNumber('milliseconds', 0).default(30_000),
  FEISHU_WS_RECONNECT_MAX_MS: wholeNumber('milliseconds', 100).default(60_000),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: port.default(3000),
  DATABASE_URL: z
    .string()
    .default(DEFAULT_DATABASE_URL)
    .refine((v) => /^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(v), {
      message: 'must be sqlite:<file path> or postgres://user:pass@host/db',
      abort: true,
    })
    .refine((v) => !/^postgres/.test(v) || URL.canParse(v), {
      message:
        'is not a valid URL: percent-encode the characters / @ : # ? % in the user name and password ' +
        '(encodeURIComponent), e.g. postgres://exam:p%2Fss@db:5432/feishu_exam',
    }),

  SQLITE_DRIVER: z
    .enum(SQLITE_DRIVERS, {
      error: `must be ${SQLITE_DRIVERS.join(' or ')} (the binding that opens a sqlite: database)`,
    })
    .default(DEFAULT_SQLITE_DRIVER),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_BODY_BYTES: wholeNumber('bytes', 1024).default(1024 * 1024),
  SIGNATURE_TOLERANCE_SECONDS: wholeNumber('seconds', 1).optional(),
  APPROVAL_CHAT_ID: z
    .string({ error: 'is required: the chat_id (oc_…) of the staff chat where approval cards are posted' })
    .regex(/^oc_[A-Za-z0-9_-]+$/, 'must be a chat_id such as oc_a0553eda9014c201e6969b478895c230'),
  APPROVER_OPEN_IDS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .refine((ids) => ids.every((id) => /^ou_[\w-]+$/.test(id)), {
      message: 'must be open ids (ou_…) separated by commas',
    }),
  ADMIN_TOKEN: optionalSecret.refine((v) => v === undefined || v.length >= 16, {
    message: 'must be at least 16 characters (it guards /admin)',
  }),
  METRICS_TOKEN: optionalSecret.refine((v) => v === undefined || v.length >= 16, {
    message: 'must be at least 16 characters (it guards /metrics)',
  }),
  METRICS_PORT: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    port.optional(),
  ),
  EXAM_PROVIDER: z
    .enum(['sandbox'], {
      error: 'must name a built-in provider without options: sandbox (declare others in PROVIDERS_FILE)',
    })
    .default('sandbox'),
  PROVIDERS_FILE: z.string().min(1).optional(),
  NODE_ENV: z.string().optional(),
  ALLOW_SANDBOX_PROVIDER: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((v) => v === 'true'),
  SHOW_CANDIDATE_CONTACT: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((v) => v === 'true'),
  PAPER_SYNC_INTERVAL_MS: wholeNumber('milliseconds', 0).default(3_600_000),
  RESULT_POLL_INTERVAL_MS: wholeNumber('milliseconds', 0).default(600_000),
  RESULT_POLL_DAYS: wholeDays('0 polls for as long as the exam has no result').default(30),
  RETENTION_DAYS: wholeDays('0 keeps personal data forever').default(180),
  JOB_HISTORY_DAYS: wholeDays('0 keeps finished jobs forever').default(7),
  OUTBOX_WORKER: z
    .enum(['on', 'off'], { error: 'must be on or off' })
    .default('on')
    .transform((v) => v === 'on'),
  OUTBOX_POLL_MS: wholeNumber('milliseconds', 10).default(500),
  OUTBOX_LEASE_MS: wholeNumber('milliseconds', 100).default(60_000),
  OUTBOX_CONCURRENCY: wholeNumber('', 1, 64).default(8),
  OUTBOX_BASE_DELAY_MS: wholeNumber('milliseconds', 1).default(1000),
  OUTBOX_MAX_DELAY_MS: wholeNumber('milliseconds', 1).default(300_000),
  OUTBOX_BUSY_CONCURRENCY: wholeNumber('', 1, 64).default(2),
  PROVIDER_DEADLINE_MS: wholeNumber('milliseconds', 100, 3_600_000).default(300_000),
});

/** Every environment variable the gateway reads (the README's table lists each; a test checks it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/**
 * Checked on the raw environment, beside the schema, so that this line shows up together with every other
 * mistake instead of only once the rest is fixed (an object-level refine runs only on a valid object).
 */
function crossFieldErrors(env: Readonly<Record<string, string | undefined>>): string[] {
  const present = (name: string) => (env[name] ?? '').trim() !== '';
  const errors: string[] = [];
  // The long connection needs neither: its frames arrive over a channel the gateway opened with the secret.
  if (env.FEISHU_TRANSPORT === 'websocket') errors.push(...longConnectionErrors(env));
  else if (!present('FEISHU_VERIFICATION_TOKEN') && !present('FEISHU_ENCRYPT_KEY'))
    errors.push(
      'FEISHU_ENCRYPT_KEY or FEISHU_VERIFICATION_TOKEN is required: set FEISHU_ENCRYPT_KEY (recommended: pushes ' +
        'are signed and encrypted) or at least FEISHU_VERIFICATION_TOKEN; with neither, anyone could post events to the gateway ' +
        "(a self-built app receiving its events over Feishu's long connection, FEISHU_TRANSPORT=websocket, needs neither)",
    );
  // Compared as numbers, so that a malformed PORT is reported by the schema alone.
  const port = Number(env.PORT ?? 3000);
  if (present('METRICS_PORT') && Number(env.METRICS_PORT) !== 0 && Number(env.METRICS_PORT) === port)
    errors.push(`METRICS_PORT must differ from PORT (${port}); to serve /metrics on PORT, set METRICS_TOKEN`);
  if (env.FEISHU_APP_TYPE === 'marketplace' && !present('FEISHU_STAFF_TENANT_KEY'))
    errors.push(
      "FEISHU_STAFF_TENANT_KEY is required when FEISHU_APP_TYPE=marketplace: the tenant_key of the vendor's own " +
        'tenant, where APPROVAL_CHAT_ID is and whose staff decide (it is in the app_open event and in every event ' +
        'header from that tenant)',
    );
  return errors;
}

/**
 * The long connection is for self-built apps only (Feishu: "目前长连接模式不支持商店应用"); FEISHU_APP_TYPE is
 * read raw so the refusal holds whichever module declares that variable. The SDK's WSClient silently does
 * nothing unless the app id is cli_ and 16 hex digits. No token or key is needed: the connection is opened
 * with the app secret (then /webhook/event and /webhook/card are not served).
 */
function longConnectionErrors(env: Readonly<Record<string, string | undefined>>): string[] {
  const errors: string[] = [];
  if (env.FEISHU_APP_TYPE?.trim() === 'marketplace')
    errors.push(
      'FEISHU_TRANSPORT=websocket is not available to marketplace apps (Feishu offers the long connection to ' +
        'self-built apps only); use FEISHU_TRANSPORT=webhook',
    );
  if (env.FEISHU_APP_ID && !/^cli_[0-9a-fA-F]{16}$/.test(env.FEISHU_APP_ID))
    errors.push(
      'FEISHU_APP_ID must be cli_ and 16 hex digits with FEISHU_TRANSPORT=websocket (the SDK refuses other ids)',
    );
  return errors;
}

export interface GatewayConfig {
  readonly appId: string;
  readonly appSecret: string;
  /**
   * self_built: the app lives in one tenant and gets its token with the app secret alone. marketplace: one
   * store app serves every customer tenant that installed it; tokens come per tenant from the app_ticket.
   */
  readonly appType: 'self_built' | 'marketplace';
  /** marketplace: the vendor's own tenant (the staff chat, the approvers). Undefined for self_built. */
  readonly staffTenantKey: string | undefined;
  /** Variables that were set but mean nothing in this configuration: warned about at start. */
  readonly ignoredSettings?: readonly string[];
  readonly verificationToken: string | undefined;
  readonly encryptKey: string | undefined;
  /** The Open Platform base URL handed to the SDK client's `domain` option. */
  readonly feishuDomain: string;
  /** The timeout of one Open Platform call; the outbox lease is kept at least twice as long. */
  readonly feishuTimeoutMs: number;
  /** How Feishu's events and card callbacks arrive: posted to /webhook/*, or over the long connection. */
  readonly transport: 'webhook' | 'websocket';
  readonly longConnection: {
    /** No frame (pong or data) for this long: the connection is half-open and is replaced. */
    readonly livenessMs: number;
    /** /readyz stays ready this long after the connection went down (a reconnect is routine). */
    readonly readyGraceMs: number;
    /** The ceiling of the reconnect backoff. */
    readonly reconnectMaxMs: number;
  };
  readonly host: string;
  readonly port: number;
  readonly databaseUrl: string;
  /** The binding that opens a `sqlite:` database (ignored for PostgreSQL). */
  readonly sqliteDriver: SqliteDriver;
  readonly logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  readonly maxBodyBytes: number;
  readonly signatureToleranceSeconds: number | undefined;
  readonly approvalChatId: string;
  /** Empty: anyone who can see the card may decide. */
  readonly approverOpenIds: readonly string[];
  readonly adminToken: string | undefined;
  /**
   * /metrics: on the main port behind `token` (Bearer), and/or without authentication on `port` (a listener
   * of its own, bound to HOST). Neither: /metrics answers 404.
   */
  readonly metrics: { readonly token: string | undefined; readonly port: number | undefined };
  readonly examProvider: 'sandbox';
  /** A YAML or JSON file declaring the exam platforms; when set, it replaces EXAM_PROVIDER. */
  readonly providersFile: string | undefined;
  /** NODE_ENV=production: a simulated exam platform (the sandbox) is refused unless explicitly allowed. */
  readonly production: boolean;
  /** The operator knows the sandbox arranges fake exams (the demo, a staging system): no warning, no refusal. */
  readonly allowSandboxProvider: boolean;
  readonly showCandidateContact: boolean;
  /** How often every bound account's papers are re-published; 0 turns the schedule off. */
  readonly paperSyncIntervalMs: number;
  /** How often arranged exams without a result are polled on providers that can be polled; 0 turns it off. */
  readonly resultPollIntervalMs: number;
  /**
   * Days after its arrangement was reported that an exam without a result is still polled (a candidate who never
   * sits would be polled every round for good); 0 polls for as long as it has none.
   */
  readonly resultPollDays: number;
  /**
   * Days after an exam ends (its last change in a final state) before the candidate's contact data and the
   * exam password are erased from the database; 0 keeps them.
   */
  readonly retentionDays: number;
  /**
   * Days a finished job (done, skipped) is kept for the console before it is deleted; 0 keeps them. Dead jobs
   * stay until an operator acts.
   */
  readonly jobHistoryDays: number;
  readonly outbox: {
    /** Off: this replica only ingests and answers clicks; another replica runs the jobs. */
    readonly enabled: boolean;
    readonly pollMs: number;
    readonly leaseMs: number;
    readonly concurrency: number;
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
    /** Jobs at once while exam events wait for their commit (capped by `concurrency`). */
    readonly busyConcurrency: number;
    /**
     * How long one provider method (createExam, fetchResult, listPapers, …) may take, all its platform calls
     * together, before the job gives it up and retries: a provider that does not keep to its own timeout must
     * not hold a worker slot for ever.
     */
    readonly providerDeadlineMs: number;
  };
}

export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] };

/** Reads the environment. Every problem is reported at once, one line per variable, saying what to fix. */
export function loadConfig(given: Readonly<Record<string, string | undefined>>): ConfigResult {
  // `PORT=` in an env file (or `PORT: ${PORT}` in compose with PORT unset) means "not set": coerced, it would be
  // 0 (a random port, personal data kept forever, schedules off) without a word.
  const env = Object.fromEntries(
    Object.entries(given).filter(([, value]) => value === undefined || value.trim() !== ''),
  );
  const parsed = envSchema.safeParse(env);
  const errors = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'} ${i.message}`)),
    ...crossFieldErrors(env),
  ];
  if (!parsed.success || errors.length > 0) return { ok: false, errors };
  const e = parsed.data;
  return {
    ok: true,
    config: {
      appId: e.FEISHU_APP_ID,
      appSecret: e.FEISHU_APP_SECRET,
      appType: e.FEISHU_APP_TYPE,
      staffTenantKey: e.FEISHU_APP_TYPE === 'marketplace' ? e.FEISHU_STAFF_TENANT_KEY : undefined,
      ignoredSettings:
        e.FEISHU_APP_TYPE !== 'marketplace' && e.FEISHU_STAFF_TENANT_KEY !== undefined
          ? [
              'FEISHU_STAFF_TENANT_KEY is ignored: a self-built app lives in one tenant, where its staff chat is; it ' +
                'names the staff tenant of a marketplace app (FEISHU_APP_TYPE=marketplace)',
            ]
          : [],
      verificationToken: e.FEISHU_VERIFICATION_TOKEN,
      encryptKey: e.FEISHU_ENCRYPT_KEY,
      feishuDomain: e.FEISHU_DOMAIN,
      feishuTimeoutMs: e.FEISHU_TIMEOUT_MS,
      transport: e.FEISHU_TRANSPORT,
      longConnection: {
        livenessMs: e.FEISHU_WS_LIVENESS_MS,
        readyGraceMs: e.FEISHU_WS_READY_GRACE_MS,
        reconnectMaxMs: e.FEISHU_WS_RECONNECT_MAX_MS,
      },
      host: e.HOST,
      port: e.PORT,
      databaseUrl: e.DATABASE_URL,
      sqliteDriver: e.SQLITE_DRIVER,
      logLevel: e.LOG_LEVEL,
      maxBodyBytes: e.MAX_BODY_BYTES,
      signatureToleranceSeconds: e.SIGNATURE_TOLERANCE_SECONDS,
      approvalChatId: e.APPROVAL_CHAT_ID,
      approverOpenIds: e.APPROVER_OPEN_IDS,
      adminToken: e.ADMIN_TOKEN,
      metrics: { token: e.METRICS_TOKEN, port: e.METRICS_PORT },
      examProvider: e.EXAM_PROVIDER,
      providersFile: e.PROVIDERS_FILE,
      production: e.NODE_ENV === 'production',
      allowSandboxProvider: e.ALLOW_SANDBOX_PROVIDER,
      showCandidateContact: e.SHOW_CANDIDATE_CONTACT,
      paperSyncIntervalMs: e.PAPER_SYNC_INTERVAL_MS,
      resultPollIntervalMs: e.RESULT_POLL_INTERVAL_MS,
      resultPollDays: e.RESULT_POLL_DAYS,
      retentionDays: e.RETENTION_DAYS,
      jobHistoryDays: e.JOB_HISTORY_DAYS,
      outbox: {
        enabled: e.OUTBOX_WORKER,
        pollMs: e.OUTBOX_POLL_MS,
        leaseMs: e.OUTBOX_LEASE_MS,
        concurrency: e.OUTBOX_CONCURRENCY,
        baseDelayMs: e.OUTBOX_BASE_DELAY_MS,
        maxDelayMs: e.OUTBOX_MAX_DELAY_MS,
        busyConcurrency: e.OUTBOX_BUSY_CONCURRENCY,
        providerDeadlineMs: e.PROVIDER_DEADLINE_MS,
      },
    },
  };
}

/** What may be printed about the configuration: secrets only as "set" or "not set". */
export function describeConfig(config: GatewayConfig): Record<string, unknown> {
  return {
    appId: config.appId,
    // Named so the log's redaction net (which replaces any field called like a secret) leaves "set" readable.
    appSecretIs: 'set',
    appType: config.appType,
    ...(config.staffTenantKey ? { staffTenantKey: config.staffTenantKey } : {}),
    verificationTokenIs: config.verificationToken ? 'set' : 'not set',
    encryptKeyIs: config.encryptKey ? 'set' : 'not set (pushes are not signed: set it in production)',
    feishuDomain: config.feishuDomain,
    transport: config.transport,
    host: config.host,
    port: config.port,
    database: redactDatabaseUrl(config.databaseUrl),
    ...(config.databaseUrl.startsWith('sqlite:') ? { sqliteDriver: config.sqliteDriver } : {}),
    maxBodyBytes: config.maxBodyBytes,
    approvalChatId: config.approvalChatId,
    approvers: config.approverOpenIds.length === 0 ? 'anyone in the chat' : config.approverOpenIds.length,
    adminTokenIs: config.adminToken ? 'set' : 'not set (admin endpoints disabled)',
    metricsTokenIs: config.metrics.token ? 'set' : 'not set',
    metricsPort: config.metrics.port ?? 'not set',
    providersFile: config.providersFile ?? 'not set',
    examProvider: config.providersFile ? `see providersFile` : config.examProvider,
    showCandidateContact: config.showCandidateContact,
    retentionDays: config.retentionDays === 0 ? 'personal data kept forever' : config.retentionDays,
    jobHistoryDays: config.jobHistoryDays === 0 ? 'finished jobs kept forever' : config.jobHistoryDays,
  };
}

/** Settings that work but leave a hole open: logged as warnings at every start, so they are not forgotten. */
export function configWarnings(config: GatewayConfig): string[] {
  const warnings: string[] = [];
  // Over the long connection alone nothing is posted to us: the key would guard nothing.
  if (!config.encryptKey && (config.transport === 'webhook' || config.verificationToken))
    warnings.push(
      'FEISHU_ENCRYPT_KEY is not set: pushes are checked by the verification token only, with no signature, ' +
        'timestamp or replay check; set the Encrypt Key in production',
    );
  if (config.encryptKey && !config.verificationToken && config.transport === 'webhook')
    warnings.push(
      'FEISHU_VERIFICATION_TOKEN is not set: events and card.action.trigger are checked by their signature, but an ' +
        'old-style card callback (消息卡片请求网址) is signed with the verification token and will be refused; set it',
    );
  warnings.push(...(config.ignoredSettings ?? []));
  if (config.outbox.maxDelayMs < config.outbox.baseDelayMs)
    warnings.push(
      `OUTBOX_MAX_DELAY_MS (${config.outbox.maxDelayMs}) is below OUTBOX_BASE_DELAY_MS (${config.outbox.baseDelayMs}): ` +
        'every retry waits OUTBOX_MAX_DELAY_MS, with no backoff; the cap is meant to be the larger of the two',
    );
  if (config.approverOpenIds.length === 0)
    warnings.push(
      'APPROVER_OPEN_IDS is empty: anyone in the staff chat can approve or reject exams; list the open ids (ou_…) of the approvers',
    );
  return warnings;
}

/** The database URL without its password, fit for a log line or an error. */
// Up to the last @: a password pasted unencoded may hold / or @ itself.
// And the query's password values: node-postgres also reads `?password=` (and `sslpassword=`).
export const redactDatabaseUrl = (url: string) =>
  url.replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/i, '$1***@').replace(/([?&](?:ssl)?password=)[^&#]*/gi, '$1***');

/**
 * The secret values this process was given, for the log's net to write out wherever they appear in text: the
 * configured ones, and every environment variable named like a secret (a provider's API key is read from a
 * variable its options name: HACKERRANK_API_KEY, or another). A name is taken as a secret's by the words in
 * it; a value of fewer than 8 characters is not searched for (it would match ordinary words).
 */
export function secretValues(config: GatewayConfig, env: NodeJS.ProcessEnv): string[] {
  const named = Object.entries(env)
    // A tenant key names a tenant (it is logged on purpose); it is not a credential.
    .filter(
      ([name]) =>
        /SECRET|TOKEN|KEY|PASSWORD|PASSWD|CREDENTIAL|AUTH/i.test(name) && !/TENANT_KEY$/i.test(name),
    )
    .map(([, value]) => value);
  return [
    ...databasePasswords(config.databaseUrl),
    config.appSecret,
    config.encryptKey,
    config.verificationToken,
    config.adminToken,
    config.metrics.token,
    ...named,
  ].filter((v): v is string => typeof v === 'string' && v.length > 0);
}

/** The passwords a database URL carries (its user's, and node-postgres' `?password=`, `?sslpassword=`). */
export function databasePasswords(databaseUrl: string): string[] {
  try {
    const url = new URL(databaseUrl);
    return [
      decodeURIComponent(url.password),
      url.searchParams.get('password') ?? '',
      url.searchParams.get('sslpassword') ?? '',
    ];
  } catch {
    return [];
  }
}

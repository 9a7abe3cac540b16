import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_VARIABLES,
  configWarnings,
  describeConfig,
  loadConfig,
  redactDatabaseUrl,
  secretValues,
} from '../src/config.js';
import { baseEnv, secrets } from './support.js';

describe('loadConfig', () => {
  it('reads a complete environment, with defaults for the rest', () => {
    const result = loadConfig({
      FEISHU_APP_ID: 'cli_x1',
      FEISHU_APP_SECRET: 's',
      FEISHU_ENCRYPT_KEY: 'k',
      APPROVAL_CHAT_ID: 'oc_1',
    });
    expect(result).toEqual({
      ok: true,
      config: expect.objectContaining({
        feishuDomain: 'https://open.feishu.cn',
        port: 3000,
        databaseUrl: 'sqlite:./data/feishu-exam.sqlite',
        verificationToken: undefined,
        maxBodyBytes: 1048576,
        approverOpenIds: [],
        examProvider: 'sandbox',
        showCandidateContact: false,
      }),
    });
  });

  it('names every missing or malformed variable, one line each, saying what to fix', () => {
    const result = loadConfig({ PORT: 'eighty', FEISHU_DOMAIN: 'open.feishu.cn', DATABASE_URL: 'mysql://x' });
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors;
    const line = (name: string) => errors.find((e) => e.startsWith(`${name} `));
    expect(line('FEISHU_APP_ID')).toMatch(/is required/);
    expect(line('FEISHU_APP_SECRET')).toMatch(/is required/);
    expect(line('PORT')).toMatch(/whole number/);
    expect(line('FEISHU_DOMAIN')).toMatch(/http\(s\) URL/);
    expect(line('DATABASE_URL')).toMatch(/sqlite:/);
    expect(line('APPROVAL_CHAT_ID')).toMatch(/is required/);
    // Neither secret set: the line also says that the long connection needs neither.
    expect(line('FEISHU_ENCRYPT_KEY')).toMatch(
      /or FEISHU_VERIFICATION_TOKEN is required.*FEISHU_TRANSPORT=websocket, needs neither/,
    );
  });

  it('reads the approver allow-list and refuses what is not an open id', () => {
    const ok = loadConfig({ ...baseEnv, APPROVER_OPEN_IDS: ' ou_a1, ou_b2 ,' });
    expect(ok.ok && ok.config.approverOpenIds).toEqual(['ou_a1', 'ou_b2']);
    const bad = loadConfig({
      ...baseEnv,
      APPROVER_OPEN_IDS: 'alice,bob',
      ADMIN_TOKEN: 'short',
      EXAM_PROVIDER: 'nope',
    });
    const errors = bad.ok ? [] : bad.errors;
    expect(errors.find((e) => e.startsWith('APPROVER_OPEN_IDS '))).toMatch(/open ids/);
    expect(errors.find((e) => e.startsWith('ADMIN_TOKEN '))).toMatch(/16 characters/);
    expect(errors.find((e) => e.startsWith('EXAM_PROVIDER '))).toMatch(/sandbox/);
  });

  it('refuses a gateway that could not authenticate pushes at all', () => {
    const result = loadConfig({
      FEISHU_APP_ID: 'cli_x1',
      FEISHU_APP_SECRET: 's',
      FEISHU_VERIFICATION_TOKEN: ' ',
      APPROVAL_CHAT_ID: 'oc_1',
    });
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.errors.join()).toMatch(/FEISHU_ENCRYPT_KEY/);
  });

  it('strips a trailing slash from FEISHU_DOMAIN, so the SDK builds clean URLs', () => {
    const result = loadConfig({ ...baseEnv, FEISHU_DOMAIN: 'http://127.0.0.1:9999/' });
    expect(result.ok && result.config.feishuDomain).toBe('http://127.0.0.1:9999');
  });

  it('describes itself without any secret and without a database password', () => {
    const result = loadConfig({ ...baseEnv, DATABASE_URL: 'postgres://exam:hunter2@db/exam' });
    if (!result.ok) throw new Error(result.errors.join());
    const text = JSON.stringify(describeConfig(result.config));
    for (const secret of [secrets.appSecret, secrets.encryptKey, secrets.verificationToken, 'hunter2']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain(secrets.appId);
  });
});

describe('configuration polish', () => {
  it('lists the missing push authentication together with every other mistake, not only after them', () => {
    const result = loadConfig({ FEISHU_APP_SECRET: 's', PORT: 'eighty' });
    const errors = result.ok ? [] : result.errors;
    expect(errors.some((e) => e.startsWith('PORT '))).toBe(true);
    expect(errors.some((e) => e.startsWith('FEISHU_APP_ID '))).toBe(true);
    expect(errors.some((e) => e.includes('set FEISHU_ENCRYPT_KEY'))).toBe(true);
  });

  it('refuses an App ID that is not cli_… and a chat id that is not oc_…', () => {
    const result = loadConfig({ ...baseEnv, FEISHU_APP_ID: 'my-app', APPROVAL_CHAT_ID: 'staff' });
    const errors = result.ok ? [] : result.errors;
    expect(errors.find((e) => e.startsWith('FEISHU_APP_ID '))).toMatch(/cli_/);
    expect(errors.find((e) => e.startsWith('APPROVAL_CHAT_ID '))).toMatch(/oc_/);
  });

  it('.env.example lists every variable the gateway and its built-in providers read', () => {
    const example = readFileSync(new URL('../../../.env.example', import.meta.url), 'utf8');
    const missing = [...CONFIG_VARIABLES, 'SANDBOX_WEBHOOK_SECRET', 'HACKERRANK_API_KEY'].filter(
      (name) => !new RegExp(`^(# )?${name}=`, 'm').test(example),
    );
    expect(missing).toEqual([]);
  });

  it('the README table lists every variable the gateway and its built-in providers read', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const providerSecrets = ['SANDBOX_WEBHOOK_SECRET', 'HACKERRANK_API_KEY'];
    const missing = [...CONFIG_VARIABLES, ...providerSecrets].filter(
      (name) => !new RegExp(`^\\|[^\\n]*\`${name}\``, 'm').test(readme),
    );
    expect(missing).toEqual([]);
  });
});

describe('configWarnings: settings that start but do not do what they say', () => {
  const warningsFor = (env: Record<string, string>) => {
    const loaded = loadConfig({ ...baseEnv, APPROVER_OPEN_IDS: 'ou_a', ...env });
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    return configWarnings(loaded.config);
  };

  it('the encrypt key without the verification token over the webhook: old-style card callbacks would be refused', () => {
    const missing = expect.stringMatching(/^FEISHU_VERIFICATION_TOKEN is not set: .*消息卡片请求网址/);
    expect(warningsFor({ FEISHU_VERIFICATION_TOKEN: '' })).toEqual([missing]);
    // Over the long connection, card callbacks come as card.action.trigger only.
    expect(
      warningsFor({
        FEISHU_VERIFICATION_TOKEN: '',
        FEISHU_TRANSPORT: 'websocket',
        FEISHU_APP_ID: 'cli_a1b2c3d4e5f60718',
      }),
    ).toEqual([]);
  });

  it('FEISHU_STAFF_TENANT_KEY on a self-built app is named as ignored; on a marketplace app it is used', () => {
    expect(warningsFor({})).toEqual([]);
    expect(warningsFor({ FEISHU_STAFF_TENANT_KEY: 'tenant-vendor' })).toEqual([
      expect.stringMatching(/^FEISHU_STAFF_TENANT_KEY is ignored: a self-built app/),
    ]);
    expect(warningsFor({ FEISHU_APP_TYPE: 'marketplace', FEISHU_STAFF_TENANT_KEY: 'tenant-vendor' })).toEqual(
      [],
    );
  });

  it('OUTBOX_MAX_DELAY_MS below OUTBOX_BASE_DELAY_MS is named: there would be no backoff', () => {
    expect(warningsFor({ OUTBOX_BASE_DELAY_MS: '5000', OUTBOX_MAX_DELAY_MS: '5000' })).toEqual([]);
    expect(warningsFor({ OUTBOX_BASE_DELAY_MS: '5000', OUTBOX_MAX_DELAY_MS: '1000' })).toEqual([
      expect.stringMatching(/^OUTBOX_MAX_DELAY_MS \(1000\) is below OUTBOX_BASE_DELAY_MS \(5000\)/),
    ]);
  });
});

describe('secretValues (what the log writes out wherever it appears)', () => {
  it("lists the configured secrets, the database password and every secret-named variable's value, not a tenant key", () => {
    const env = {
      ...baseEnv,
      ADMIN_TOKEN: 'admin-token-0123456789',
      DATABASE_URL: 'postgres://exam:db-pass-4711@db/exam',
      HACKERRANK_API_KEY: 'hr-key-0123456789',
      ACME_CREDENTIALS: 'acme-credential-value',
      FEISHU_APP_TYPE: 'marketplace',
      FEISHU_STAFF_TENANT_KEY: 'tenant-key-visible',
    };
    const loaded = loadConfig(env);
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const values = secretValues(loaded.config, env);
    for (const value of [
      secrets.appSecret,
      secrets.encryptKey,
      'admin-token-0123456789',
      'db-pass-4711',
      'hr-key-0123456789',
      'acme-credential-value',
    ])
      expect(values).toContain(value);
    expect(values).not.toContain('tenant-key-visible');
  });
});

describe('loadConfig, on the mistakes of a first deployment', () => {
  it('takes a variable set to nothing (`RETENTION_DAYS=` in an env file) as not set, never as 0', () => {
    const loaded = loadConfig({
      ...baseEnv,
      PORT: '',
      RETENTION_DAYS: '',
      PAPER_SYNC_INTERVAL_MS: ' ',
      RESULT_POLL_INTERVAL_MS: '',
      RESULT_POLL_DAYS: '',
      JOB_HISTORY_DAYS: '',
      OUTBOX_POLL_MS: '',
      HOST: '',
      LOG_LEVEL: '',
    });
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    // 0 would mean: a random port, personal data kept forever, papers never re-published, results never polled
    // (or polled for good), finished jobs kept for good.
    expect(loaded.config).toMatchObject({
      port: 3000,
      retentionDays: 180,
      paperSyncIntervalMs: 3_600_000,
      resultPollIntervalMs: 600_000,
      resultPollDays: 30,
      jobHistoryDays: 7,
      host: '0.0.0.0',
      logLevel: 'info',
      outbox: { pollMs: 500 },
    });
  });

  it('says what a number variable expects: a whole number, its unit and its range', () => {
    const result = loadConfig({
      ...baseEnv,
      FEISHU_TIMEOUT_MS: 'abc',
      OUTBOX_CONCURRENCY: '100',
      MAX_BODY_BYTES: '10MB',
      OUTBOX_POLL_MS: '1.5',
    });
    const errors = result.ok ? [] : result.errors;
    const line = (name: string) => errors.find((e) => e.startsWith(`${name} `));
    expect(line('FEISHU_TIMEOUT_MS')).toBe(
      'FEISHU_TIMEOUT_MS must be a whole number of milliseconds from 100 to 120000',
    );
    expect(line('OUTBOX_CONCURRENCY')).toBe('OUTBOX_CONCURRENCY must be a whole number from 1 to 64');
    expect(line('MAX_BODY_BYTES')).toBe('MAX_BODY_BYTES must be a whole number of bytes, at least 1024');
    expect(line('OUTBOX_POLL_MS')).toBe('OUTBOX_POLL_MS must be a whole number of milliseconds, at least 10');
  });

  it('refuses a PostgreSQL URL that does not parse, without echoing its password', () => {
    const result = loadConfig({ ...baseEnv, DATABASE_URL: 'postgres://exam:pa/ss-4711@db/exam' });
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors;
    expect(errors).toEqual([expect.stringMatching(/^DATABASE_URL .*percent-encode/)]);
    expect(errors.join('\n')).not.toContain('ss-4711');
  });

  it('hides a database password even when it holds an unencoded / or @', () => {
    for (const url of [
      'postgres://exam:pa/ss-4711@db:5432/exam',
      'postgres://exam:p@ss-4711@db:5432/exam',
      'postgresql://exam:secret-4711@db/exam?sslmode=require',
    ]) {
      const shown = redactDatabaseUrl(url);
      expect(shown).not.toMatch(/ss-4711|secret-4711/);
      expect(shown).toMatch(/^postgres(ql)?:\/\/\*\*\*@db/);
    }
    expect(redactDatabaseUrl('sqlite:./data/x.sqlite')).toBe('sqlite:./data/x.sqlite');
  });

  it("README's 'Running the gateway' command sets every variable a start needs", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Running the gateway'));
    const command = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    expect(command).toContain('node apps/gateway/dist/main.js');
    const env = Object.fromEntries(
      [...command.matchAll(/\b([A-Z][A-Z0-9_]*)=(\S+)/g)].map(([, name, value]) => [name, value]),
    );
    const loaded = loadConfig(env);
    expect(loaded.ok ? [] : loaded.errors).toEqual([]);
  });

  it('refuses a FEISHU_DOMAIN that ends in /open-apis (the SDK adds it: every call would be a 404)', () => {
    for (const domain of ['https://open.feishu.cn/open-apis', 'https://open.feishu.cn/open-apis/']) {
      const result = loadConfig({ ...baseEnv, FEISHU_DOMAIN: domain });
      expect(result.ok ? [] : result.errors).toEqual([
        expect.stringMatching(/^FEISHU_DOMAIN .*without \/open-apis/),
      ]);
    }
    expect(loadConfig({ ...baseEnv, FEISHU_DOMAIN: 'https://open.larksuite.com' }).ok).toBe(true);
  });

  it('lists METRICS_PORT equal to PORT together with every other mistake, not only once the rest is fixed', () => {
    const result = loadConfig({
      ...baseEnv,
      APPROVAL_CHAT_ID: undefined,
      PORT: '8080',
      METRICS_PORT: '8080',
    });
    const errors = result.ok ? [] : result.errors;
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^APPROVAL_CHAT_ID is required/),
        expect.stringMatching(/^METRICS_PORT must differ from PORT \(8080\)/),
      ]),
    );
  });
});

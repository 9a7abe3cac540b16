// config: every setting the gateway reads, validated once at start. The rest of the code gets typed values.
import { z } from 'zod';

const optionalSecret = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const port = z.coerce
  .number({ error: 'must be a whole number from 0 to 65535' })
  .int('must be a whole number from 0 to 65535')
  .min(0, 'must be a whole number from 0 to 65535')
  .max(65535, 'must be a whole number from 0 to 65535');

const envSchema = z
  .object({
    FEISHU_APP_ID: z
      .string({ error: 'is required: the App ID from the developer console (cli_…)' })
      .min(1, 'is empty'),
    FEISHU_APP_SECRET: z
      .string({ error: 'is required: the App Secret from the developer console' })
      .min(1, 'is empty'),
    FEISHU_VERIFICATION_TOKEN: optionalSecret,
    FEISHU_ENCRYPT_KEY: optionalSecret,
    FEISHU_DOMAIN: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://open.feishu.cn' })
      .default('https://open.feishu.cn')
      .transform((v) => v.replace(/\/+$/, '')),
    HOST: z.string().min(1).default('0.0.0.0'),
    PORT: port.default(3000),
    DATABASE_URL: z
      .string()
      .default('sqlite:./data/feishu-exam.sqlite')
      .refine((v) => /^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(v), {
        message: 'must be sqlite:<file path> or postgres://user:pass@host/db',
      }),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    MAX_BODY_BYTES: z.coerce
      .number()
      .int()
      .min(1024, 'must be at least 1024')
      .default(1024 * 1024),
    SIGNATURE_TOLERANCE_SECONDS: z.coerce
      .number()
      .int()
      .min(1, 'must be a positive number of seconds')
      .optional(),
  })
  .refine((env) => env.FEISHU_VERIFICATION_TOKEN || env.FEISHU_ENCRYPT_KEY, {
    message:
      'set FEISHU_ENCRYPT_KEY (recommended: pushes are signed and encrypted) or at least FEISHU_VERIFICATION_TOKEN; ' +
      'with neither, anyone could post events to the gateway',
    path: ['FEISHU_VERIFICATION_TOKEN'],
  });

export interface GatewayConfig {
  readonly appId: string;
  readonly appSecret: string;
  readonly verificationToken: string | undefined;
  readonly encryptKey: string | undefined;
  /** The Open Platform base URL handed to the SDK client's `domain` option. */
  readonly feishuDomain: string;
  readonly host: string;
  readonly port: number;
  readonly databaseUrl: string;
  readonly logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  readonly maxBodyBytes: number;
  readonly signatureToleranceSeconds: number | undefined;
}

export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] };

/** Reads the environment. Every problem is reported at once, one line per variable, saying what to fix. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): ConfigResult {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const errors = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`,
    );
    return { ok: false, errors };
  }
  const e = parsed.data;
  return {
    ok: true,
    config: {
      appId: e.FEISHU_APP_ID,
      appSecret: e.FEISHU_APP_SECRET,
      verificationToken: e.FEISHU_VERIFICATION_TOKEN,
      encryptKey: e.FEISHU_ENCRYPT_KEY,
      feishuDomain: e.FEISHU_DOMAIN,
      host: e.HOST,
      port: e.PORT,
      databaseUrl: e.DATABASE_URL,
      logLevel: e.LOG_LEVEL,
      maxBodyBytes: e.MAX_BODY_BYTES,
      signatureToleranceSeconds: e.SIGNATURE_TOLERANCE_SECONDS,
    },
  };
}

/** What may be printed about the configuration: secrets only as "set" or "not set". */
export function describeConfig(config: GatewayConfig): Record<string, unknown> {
  return {
    appId: config.appId,
    appSecret: 'set',
    verificationToken: config.verificationToken ? 'set' : 'not set',
    encryptKey: config.encryptKey ? 'set' : 'not set',
    feishuDomain: config.feishuDomain,
    host: config.host,
    port: config.port,
    database: config.databaseUrl.replace(/\/\/[^@/]*@/, '//***@'),
    maxBodyBytes: config.maxBodyBytes,
  };
}

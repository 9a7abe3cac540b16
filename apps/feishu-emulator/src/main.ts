// A standalone emulated Feishu, for trying a gateway by hand: `node dist/main.js`, then drive it with the
// /_emulator control API. Configured from the environment.
import { randomBytes } from 'node:crypto';
import { createEmulator } from './server.js';

const env = process.env;
// No secret ships in the source, even an emulated one: unset ones are made at random and printed, for the
// gateway under test to be started with.
const generated: Record<string, string> = {};
const secretOf = (name: string) => {
  const value = env[name];
  if (value) return value;
  generated[name] = randomBytes(16).toString('hex');
  return generated[name];
};
// A marketplace app: EMULATOR_TENANTS="tenant_key=Company name,…"; the first is the vendor's own (staff).
const marketplace = env.EMULATOR_APP_TYPE === 'marketplace';
const tenants = (env.EMULATOR_TENANTS ?? 'tenant_vendor_0001=Vendor Ltd,tenant_customer_0001=Customer Ltd')
  .split(',')
  .map((pair) => pair.split('='))
  .map(([tenantKey, name]) => ({
    tenantKey: (tenantKey ?? '').trim(),
    name: (name ?? tenantKey ?? '').trim(),
  }));
const staffChat = env.EMULATOR_STAFF_CHAT ?? 'oc_emulator_staff_chat';
const app = {
  appId: env.EMULATOR_APP_ID ?? 'cli_emulator00000001',
  appSecret: secretOf('EMULATOR_APP_SECRET'),
  encryptKey: secretOf('EMULATOR_ENCRYPT_KEY'),
  verificationToken: secretOf('EMULATOR_VERIFICATION_TOKEN'),
  ...(marketplace
    ? {
        type: 'marketplace' as const,
        tenants: tenants.map((t, i) => (i === 0 ? { ...t, chats: [staffChat] } : t)),
        eventUrl: env.EMULATOR_EVENT_URL,
      }
    : {}),
};
// Feishu re-pushes an unacknowledged event after 15 s, 5 min, 1 h and 6 h; a test may compress that.
const retrySchedule = env.EMULATOR_RETRY_SCHEDULE_MS?.split(',').map((ms) => Number(ms.trim()));
if (retrySchedule?.some((ms) => !Number.isInteger(ms) || ms < 0)) {
  process.stderr.write(
    'EMULATOR_RETRY_SCHEDULE_MS must be milliseconds separated by commas, e.g. 100,200,400,800\n',
  );
  process.exit(78);
}
const emulator = createEmulator({ apps: [app], ...(retrySchedule ? { retrySchedule } : {}) });
const running = await emulator.listen(Number(env.EMULATOR_PORT ?? 0), env.EMULATOR_HOST ?? '127.0.0.1');
process.stdout.write(
  `${JSON.stringify({
    msg: 'emulator listening',
    url: running.url,
    console: `${running.url}/console/`,
    gatewayEnv: {
      FEISHU_DOMAIN: running.url,
      FEISHU_APP_ID: app.appId,
      FEISHU_APP_SECRET: app.appSecret,
      FEISHU_ENCRYPT_KEY: app.encryptKey,
      FEISHU_VERIFICATION_TOKEN: app.verificationToken,
      ...(marketplace
        ? {
            FEISHU_APP_TYPE: 'marketplace',
            FEISHU_STAFF_TENANT_KEY: tenants[0]?.tenantKey,
            APPROVAL_CHAT_ID: staffChat,
          }
        : {}),
    },
    generated: Object.keys(generated),
    control: 'docs/emulator.md',
  })}\n`,
);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void running.close().then(() => process.exit(0)));
}

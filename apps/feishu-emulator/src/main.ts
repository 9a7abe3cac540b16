// A standalone emulated Feishu, for trying a gateway by hand: `node dist/main.js`, then drive it with the
// /_emulator control API. Configured from the environment.
import { createEmulator } from './server.js';

const env = process.env;
// No default: a secret that ships in the source is no secret, even an emulated one.
if (!env.EMULATOR_APP_SECRET) {
  process.stderr.write('EMULATOR_APP_SECRET is required: the App Secret the gateway under test will use\n');
  process.exit(78);
}
const emulator = createEmulator({
  apps: [
    {
      appId: env.EMULATOR_APP_ID ?? 'cli_emulator00000001',
      appSecret: env.EMULATOR_APP_SECRET,
      encryptKey: env.EMULATOR_ENCRYPT_KEY || undefined,
      verificationToken: env.EMULATOR_VERIFICATION_TOKEN || undefined,
    },
  ],
});
const running = await emulator.listen(Number(env.EMULATOR_PORT ?? 0), env.EMULATOR_HOST ?? '127.0.0.1');
process.stdout.write(`${JSON.stringify({ msg: 'emulator listening', url: running.url })}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void running.close().then(() => process.exit(0)));
}

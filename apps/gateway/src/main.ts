// The gateway's entry point: read configuration, start, and stop cleanly on SIGTERM or SIGINT.
import { describeConfig, loadConfig, secretValues } from './config.js';
import { createLogger, lineDestination, textScrubber, written } from './log.js';
import { StartupConfigError, startGateway } from './server.js';

const loaded = loadConfig(process.env);
if (!loaded.ok) {
  process.stderr.write(
    `feishu-exam gateway: the configuration is not valid:\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}\n`,
  );
  process.exit(78); // EX_CONFIG
}
const config = loaded.config;
// Log lines go to stdout off the request path, in chunks (log.ts, lineDestination). What is still buffered is
// written before the process exits, whatever the reason: process.exit runs 'exit' listeners synchronously.
const stdout = lineDestination(1);
process.on('exit', () => {
  try {
    stdout.flushSync();
  } catch {
    // stdout is gone (a closed pipe): nothing left to write to
  }
});
const log = createLogger({
  level: config.logLevel,
  destination: stdout,
  secrets: secretValues(config, process.env),
});

// A crash is logged like any other line (through the secret filter), then the process ends as Node would
// (exit 1). Left to Node, the error went to stderr raw, and its message may hold a secret: a database URL with
// its password, a token a far side echoed back.
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception: exiting');
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  log.fatal({ err: reason }, 'unhandled promise rejection: exiting');
  process.exit(1);
});

const gateway = await startGateway(config, log).catch((err: unknown) => {
  if (err instanceof StartupConfigError) {
    // Written by hand, not logged: through the same net of secrets as the log (a driver's message may quote
    // what it was given).
    const scrub = textScrubber(secretValues(config, process.env));
    process.stderr.write(
      scrub(
        `feishu-exam gateway: the configuration is not valid:\n${err.problems.map((e) => `  - ${e}`).join('\n')}\n`,
      ),
    );
    process.exit(78);
  }
  log.fatal({ err }, 'the gateway could not start');
  process.exit(1);
});
log.info(
  { url: gateway.url, config: describeConfig(config), providers: gateway.providerIds },
  'gateway listening',
);
// At once, not within LOG_FLUSH_MS (log.ts): what starts the gateway (a supervisor, a test) waits for this line.
stdout.flush();

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  // `on`, not `once`: a second signal of either kind must end a shutdown that hangs (a request whose body stopped
  // arriving), through process.exit so that the log is flushed. Left to Node's default, a second SIGTERM killed
  // the process without its last lines, and a SIGINT after a SIGTERM was ignored until the 10 s bound.
  process.on(signal, () => {
    if (stopping) {
      log.error({ signal }, 'second signal: exiting now, without waiting for in-flight requests and jobs');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: no new requests, finishing in-flight ones');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting anyway');
      process.exit(1);
    }, 10_000);
    force.unref();
    gateway.close().then(
      async () => {
        log.info('stopped');
        await written(stdout, 1_000);
        process.exit(0);
      },
      async (err: unknown) => {
        log.error({ err }, 'the shutdown failed');
        await written(stdout, 1_000);
        process.exit(1);
      },
    );
  });
}

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * The real gateway as its own process, for the demo and the end-to-end tests. The emulator never imports
 * the gateway: it starts the built entry point and talks to it over HTTP, as Feishu would.
 * FEISHU_EXAM_GATEWAY_MAIN points it at another build of the entry point (CI: the production bundle).
 */
const gatewayMain =
  process.env.FEISHU_EXAM_GATEWAY_MAIN ??
  fileURLToPath(new URL('../../gateway/dist/main.js', import.meta.url));

export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Every JSON log line the gateway wrote so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Sends the signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * The gateways this process started and that still run: killed when it exits, whatever the tests did (a
 * beforeAll that timed out before it held the gateway left one running through the rest of a CI run).
 */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

export function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [gatewayMain], {
    env: {
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      // The SQLite binding a test run asks for (CI runs the end-to-end suite on each).
      ...(process.env.SQLITE_DRIVER ? { SQLITE_DRIVER: process.env.SQLITE_DRIVER } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  const logs: Array<Record<string, unknown>> = [];
  return new Promise((resolve, reject) => {
    const failed = (code: number | null) =>
      reject(new Error(`the gateway exited with ${code} before listening (is it built? run pnpm build)`));
    child.once('exit', failed);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg !== 'gateway listening') return;
      child.off('exit', failed);
      resolve({
        url: String(entry.url),
        child,
        logs,
        stop: (signal = 'SIGTERM') =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done(child.exitCode);
            // 'close', not 'exit': the process's last log lines (written as it exits) are read by then.
            child.once('close', (code) => done(code));
            child.kill(signal);
          }),
      });
    });
  });
}

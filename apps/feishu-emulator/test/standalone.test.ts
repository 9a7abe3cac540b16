// The emulator as a standalone tool (`pnpm emulator`): it prints its URL and the settings for the gateway
// under test, and its control API takes a gateway by its base URL.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill();
});

function startEmulator(env: Record<string, string>) {
  const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH ?? '', ...env } });
  children.push(child);
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line)));
  });
}

describe('the standalone emulator', () => {
  it('makes up and prints the credentials it was not given, with the settings for the gateway', async () => {
    const line = await startEmulator({ EMULATOR_APP_ID: 'cli_standalone0001' });
    const env = line.gatewayEnv as Record<string, string>;
    expect(line.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.FEISHU_DOMAIN).toBe(line.url);
    expect(env.FEISHU_APP_ID).toBe('cli_standalone0001');
    expect(env.FEISHU_APP_SECRET).toMatch(/^[0-9a-f]{32}$/);
    expect(line.generated).toEqual([
      'EMULATOR_APP_SECRET',
      'EMULATOR_ENCRYPT_KEY',
      'EMULATOR_VERIFICATION_TOKEN',
    ]);
  });

  it('pushes to a gateway named by its base URL, at /webhook/event, on a compressed retry schedule', async () => {
    const seen: string[] = [];
    let answers = 0;
    const gateway = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(++answers === 1 ? 500 : 200).end('{"code":0}');
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    try {
      const line = await startEmulator({
        EMULATOR_APP_SECRET: 's'.repeat(20),
        EMULATOR_RETRY_SCHEDULE_MS: '50,100',
      });
      const base = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
      const response = await fetch(`${line.url}/_emulator/push/exam`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ gateway_url: base, exam_id: '7147998241542539527' }),
      });
      const { attempts } = (await response.json()) as { attempts: Array<{ status: number }> };
      expect(attempts.map((a) => a.status)).toEqual([500, 200]);
      expect(seen).toEqual(['POST /webhook/event', 'POST /webhook/event']);
    } finally {
      gateway.close();
    }
  });
});

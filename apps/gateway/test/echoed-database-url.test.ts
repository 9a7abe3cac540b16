// A PostgreSQL password given as a query parameter of DATABASE_URL (node-postgres reads `?password=`) stays
// off stderr when the database cannot be opened at start: the URL is redacted in the query too, the password
// is one of the process's secrets, and main.ts writes the startup problems through the secret net.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { baseEnv } from './support.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const PASSWORD = 'Db-Pass-4f8e2a91c3';

function start(databaseUrl: string) {
  const run = spawnSync(process.execPath, [main], {
    env: { PATH: process.env.PATH, ...baseEnv, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('echoed back: DATABASE_URL with the password as a query parameter, database down at start', () => {
  for (const url of [
    `postgres://exam@127.0.0.1:9/feishu_exam?password=${PASSWORD}`,
    `postgres://127.0.0.1:9/feishu_exam?user=exam&password=${PASSWORD}`,
  ]) {
    it(url.replace(PASSWORD, '<password>'), () => {
      const { code, stdout, stderr } = start(url);
      expect(code).toBe(78);
      expect(stdout).not.toContain(PASSWORD);
      expect(stderr).not.toContain(PASSWORD);
    });
  }
});

// Feishu's `msg` repeating the app secret (a token request refused): it is scrubbed at its source
// (feishu/clients.ts classify) with the process's secrets, before the 200-character cut, so that neither a
// prefix in the log, nor the whole on the job (last_error: /admin/jobs, the admin page, the stuck-job card),
// nor `feishu-exam doctor`'s output holds it.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { envelopeV2, seal } from '@feishu-exam/event-core';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/output.js';
import { runCli } from '../src/cli/program.js';
import { baseEnv, post, secrets, startTestGateway, tempDatabaseUrl } from './support.js';

async function until(check: () => boolean) {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

/** An Open Platform whose token endpoint refuses, its msg repeating the app secret it was sent. */
async function echoingOpenPlatform(msg: string) {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.includes('/auth/v3/')) return res.end(JSON.stringify({ code: 10003, msg }));
      res.end(JSON.stringify({ code: 0, msg: 'success', data: {} }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const SECRET = secrets.appSecret; // 'app-secret-Zq9w8e7r6t5y4u3i', configured as FEISHU_APP_SECRET

async function pushExam(url: string) {
  const sealed = seal(
    envelopeV2(
      'hire.eco_exam.created_v1',
      { exam_id: 'msg-1', candidate_info: { name: 'A' } },
      { token: secrets.verificationToken },
    ),
    { encryptKey: secrets.encryptKey },
  );
  expect((await post(`${url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
}

describe("echoed back: Feishu's msg repeating the app secret", () => {
  it('no prefix of the app secret reaches the log when the 200-character cut would split it', async () => {
    // "failed to get tenant_access_token, code: 10003, msg: " (53) + padding: the secret starts near 190.
    const sdkPrefix = 'failed to get tenant_access_token, code: 10003, msg: ';
    const lead = 'invalid param: AppSecret ';
    const msg = `${'.'.repeat(184 - sdkPrefix.length - lead.length)}${lead}${SECRET} is not valid`;
    const feishu = await echoingOpenPlatform(msg);
    const gw = await startTestGateway({ LOG_LEVEL: 'info', FEISHU_DOMAIN: feishu.url });
    try {
      await pushExam(gw.url);
      expect(await until(() => gw.logLines.some((l) => l.includes('job failed; will retry')))).toBe(true);
      const line = gw.logLines.find((l) => l.includes('job failed; will retry')) as string;
      // 16 of the secret's 27 characters ('app-secret-' is its public-looking prefix in the fixture).
      expect(line).not.toContain(SECRET.slice(0, 16));
    } finally {
      await gw.close();
      await feishu.close();
    }
  });

  it('the app secret is not kept in the job error that /admin/jobs serves', async () => {
    const feishu = await echoingOpenPlatform(`invalid param: AppSecret ${SECRET} is not valid`);
    const gw = await startTestGateway({ LOG_LEVEL: 'info', FEISHU_DOMAIN: feishu.url });
    try {
      await pushExam(gw.url);
      expect(await until(() => gw.logLines.some((l) => l.includes('job failed; will retry')))).toBe(true);
      // The log line itself is clean: the logger knows the configured value.
      expect(gw.logLines.join('\n')).not.toContain(SECRET);
      const jobs = await fetch(`${gw.url}/admin/jobs`, {
        headers: { authorization: `Bearer ${baseEnv.ADMIN_TOKEN}` },
      }).then((r) => r.text());
      expect(jobs).not.toContain(SECRET);
    } finally {
      await gw.close();
      await feishu.close();
    }
  });

  it('`feishu-exam doctor` does not print the app secret', async () => {
    const feishu = await echoingOpenPlatform(`invalid param: AppSecret ${SECRET} is not valid`);
    const out: string[] = [];
    const io: CliIo = {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
      env: { ...baseEnv, FEISHU_DOMAIN: feishu.url, DATABASE_URL: tempDatabaseUrl() },
      cwd: process.cwd(),
    };
    try {
      await runCli(['doctor'], io);
      expect(out.join('\n')).not.toContain(SECRET);
    } finally {
      await feishu.close();
    }
  });
});

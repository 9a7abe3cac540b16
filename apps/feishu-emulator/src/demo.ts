// `pnpm demo`: starts the real gateway process and plays Feishu against it over HTTP, offline.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { envelopeV2, signatureHeaders, urlVerificationBody } from '@feishu-exam/event-core';
import { deliver } from './deliver.js';

const gatewayMain = fileURLToPath(new URL('../../gateway/dist/main.js', import.meta.url));
const app = {
  appId: 'cli_demo0000000001',
  appSecret: randomBytes(16).toString('hex'),
  encryptKey: randomBytes(16).toString('hex'),
  verificationToken: randomBytes(12).toString('hex'),
};

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => console.log(`\n${bold(`▶ ${s}`)}`);
const show = (label: string, value: unknown) => console.log(`  ${label.padEnd(18)} ${JSON.stringify(value)}`);

function startGateway(): Promise<{ child: ChildProcess; url: string; logs: Array<Record<string, unknown>> }> {
  const child = spawn(process.execPath, [gatewayMain], {
    env: {
      PATH: process.env.PATH ?? '',
      FEISHU_APP_ID: app.appId,
      FEISHU_APP_SECRET: app.appSecret,
      FEISHU_ENCRYPT_KEY: app.encryptKey,
      FEISHU_VERIFICATION_TOKEN: app.verificationToken,
      HOST: '127.0.0.1',
      PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: Array<Record<string, unknown>> = [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.msg === 'gateway listening') resolve({ child, url: String(entry.url), logs });
    });
  });
}

const gateway = await startGateway();
const webhook = `${gateway.url}/webhook/event`;
const sealWith = { encryptKey: app.encryptKey };
console.log(`gateway running at ${gateway.url} (its log lines are JSON; the relevant ones are shown below)`);

step('Feishu verifies the request URL (encrypted url_verification, unsigned as Feishu sends it)');
const challenge = await deliver(
  webhook,
  urlVerificationBody('demo-challenge-7f3a', app.verificationToken),
  sealWith,
);
show('answer', { status: challenge.status, body: challenge.body, ms: challenge.ms });

step('Feishu pushes hire.eco_exam.created_v1 (the seed document example: encrypted and signed)');
const seed = envelopeV2(
  'hire.eco_exam.created_v1',
  {
    exam_id: '7147998241542539527',
    account_id: '7147998241542539527',
    paper_id: 'paper001',
    candidate_info: { name: '王二', mobile: { code: '86', number: '18900001111' }, email: 'xxx@abc.vom' },
  },
  {
    eventId: '5e3702a84e847582be8db7fb73283c02',
    token: app.verificationToken,
    appId: app.appId,
    tenantKey: '2ca1d211f64f6438',
  },
);
const accepted = await deliver(webhook, seed, sealWith);
show('answer', { status: accepted.status, body: accepted.body, ms: accepted.ms });
await new Promise((r) => setTimeout(r, 50));
show(
  'gateway logged',
  gateway.logs.find((l) => l.msg === 'exam received'),
);

step('Someone without the encrypt key forges a push');
const forged = await fetch(webhook, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...signatureHeaders(Buffer.from('{}'), 'guessed-key') },
  body: JSON.stringify({ encrypt: randomBytes(48).toString('base64') }),
});
show('answer', { status: forged.status, body: await forged.json() });

step('Shutting down (SIGTERM): the gateway finishes in-flight requests and exits');
gateway.child.removeAllListeners('exit');
gateway.child.kill('SIGTERM');
const code = await new Promise((r) => gateway.child.once('exit', r));
show('exit code', code);
console.log('\nThe approval workflow (card, click, login_info) arrives with the next milestone.');

// `pnpm bench` (event-core): parse+verify+decrypt+validate throughput against the official SDK's
// EventDispatcher.invoke, on the same 10,000 sealed hire.eco_exam.created_v1 pushes.
// Both sides start from the raw body: ours parses it inside `parse`; the SDK's figure includes the
// JSON.parse its adaptKoa does before invoke. Both are awaited per event (the SDK's invoke is async).
import * as lark from '@larksuiteoapi/node-sdk';
import { envelopeV2, parse, seal } from '../dist/index.js';

const EVENTS = 10_000;
const ROUNDS = 7;
const secrets = { encryptKey: 'bench-encrypt-key-0123456789', verificationToken: 'bench-verification-token' };

const requests = Array.from({ length: EVENTS }, (_, i) =>
  seal(
    envelopeV2(
      'hire.eco_exam.created_v1',
      {
        exam_id: `71479982415425${String(i).padStart(5, '0')}`,
        account_id: '7147998241542539527',
        paper_id: `paper${i % 100}`,
        candidate_info: {
          name: i % 2 ? '王二' : `Candidate ${i}`,
          mobile: { code: '86', number: `189${String(i).padStart(8, '0')}` },
          email: `c${i}@abc.com`,
        },
      },
      { token: secrets.verificationToken, appId: 'cli_9f5343c580712544', tenantKey: '2ca1d211f64f6438' },
    ),
    secrets,
  ),
);

const quiet = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
let sdkHandled = 0;
const dispatcher = new lark.EventDispatcher({
  ...secrets,
  logger: quiet,
  loggerLevel: lark.LoggerLevel.error,
}).register({
  'hire.eco_exam.created_v1': async () => {
    sdkHandled++;
  },
});

async function ours() {
  let ok = 0;
  for (const request of requests) {
    const result = await (async () => parse(request, secrets))();
    if (result.ok) ok++;
  }
  if (ok !== EVENTS) throw new Error(`event-core accepted ${ok} of ${EVENTS}`);
}

async function sdk() {
  sdkHandled = 0;
  for (const request of requests) {
    const data = Object.assign(
      Object.create({ headers: request.headers }),
      JSON.parse(request.rawBody.toString('utf8')),
    );
    await dispatcher.invoke(data);
  }
  if (sdkHandled !== EVENTS) throw new Error(`the SDK handled ${sdkHandled} of ${EVENTS}`);
}

async function time(fn) {
  globalThis.gc?.();
  const start = process.hrtime.bigint();
  await fn();
  return EVENTS / (Number(process.hrtime.bigint() - start) / 1e9);
}

for (let i = 0; i < 2; i++) {
  await ours();
  await sdk();
}
const oursRates = [];
const sdkRates = [];
for (let round = 0; round < ROUNDS; round++) {
  oursRates.push(await time(ours));
  sdkRates.push(await time(sdk));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => `${Math.round(n).toLocaleString('en-US').padStart(8)} events/s`;
const a = median(oursRates);
const b = median(sdkRates);
console.log(
  `node ${process.version}; ${EVENTS.toLocaleString('en-US')} sealed events (AES-256-CBC + signature), median of ${ROUNDS} rounds`,
);
console.log(`event-core parse (signature on raw bytes, freshness, decrypt, token, zod schema)  ${fmt(a)}`);
console.log(`SDK EventDispatcher.invoke (JSON.parse, signature, decrypt, no token, no schema)  ${fmt(b)}`);
console.log(`ratio event-core / SDK  ${(a / b).toFixed(2)}×  (goal ≥ 1.0×)`);

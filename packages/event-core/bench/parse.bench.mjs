// `pnpm bench` (event-core): parse+verify+decrypt+validate throughput against the official SDK's
// EventDispatcher.invoke, on the same 10,000 sealed hire.eco_exam.created_v1 pushes.
// Both sides start from the raw body: ours parses it inside `parse`; the SDK's figure includes the
// JSON.parse its adaptKoa does before invoke. Both are awaited per event (the SDK's invoke is async).
import * as lark from '@larksuiteoapi/node-sdk';
import { envelopeV2, parse, seal } from '../dist/index.js';

const EVENTS = 10_000;
const ROUNDS = 15;
const SLICE = 500;
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

/** Parses requests[from, to) with event-core; returns the nanoseconds it took. */
async function ours(from = 0, to = EVENTS) {
  let ok = 0;
  const start = process.hrtime.bigint();
  for (let i = from; i < to; i++) {
    const request = requests[i];
    const result = await (async () => parse(request, secrets))();
    if (result.ok) ok++;
  }
  const elapsed = Number(process.hrtime.bigint() - start);
  if (ok !== to - from) throw new Error(`event-core accepted ${ok} of ${to - from}`);
  return elapsed;
}

/** The same requests through the SDK, as its adaptKoa hands them to invoke. */
async function sdk(from = 0, to = EVENTS) {
  sdkHandled = 0;
  const start = process.hrtime.bigint();
  for (let i = from; i < to; i++) {
    const request = requests[i];
    const data = Object.assign(
      Object.create({ headers: request.headers }),
      JSON.parse(request.rawBody.toString('utf8')),
    );
    await dispatcher.invoke(data);
  }
  const elapsed = Number(process.hrtime.bigint() - start);
  if (sdkHandled !== to - from) throw new Error(`the SDK handled ${sdkHandled} of ${to - from}`);
  return elapsed;
}

for (let i = 0; i < 2; i++) {
  await ours();
  await sdk();
}
// Each round runs all 10,000 events through both sides in interleaved slices of SLICE events, the order
// alternating, and takes the ratio of the two totals: on a shared machine the load changes within a second,
// so both sides must see the same moments. The figure is the median of the rounds' ratios.
const oursRates = [];
const sdkRates = [];
const ratios = [];
for (let round = 0; round < ROUNDS; round++) {
  globalThis.gc?.();
  let oursNs = 0;
  let sdkNs = 0;
  for (let from = 0, slice = 0; from < EVENTS; from += SLICE, slice++) {
    const to = Math.min(EVENTS, from + SLICE);
    if ((round + slice) % 2 === 0) {
      oursNs += await ours(from, to);
      sdkNs += await sdk(from, to);
    } else {
      sdkNs += await sdk(from, to);
      oursNs += await ours(from, to);
    }
  }
  oursRates.push(EVENTS / (oursNs / 1e9));
  sdkRates.push(EVENTS / (sdkNs / 1e9));
  ratios.push(sdkNs / oursNs);
}
const sorted = (xs) => [...xs].sort((x, y) => x - y);
const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
const fmt = (n) => `${Math.round(n).toLocaleString('en-US').padStart(8)} events/s`;
const [low, high] = [sorted(ratios)[1], sorted(ratios)[ratios.length - 2]];
console.log(
  `node ${process.version}; ${EVENTS.toLocaleString('en-US')} sealed events (AES-256-CBC + signature), ${ROUNDS} rounds in interleaved slices of ${SLICE}, medians`,
);
console.log(
  `event-core parse (signature on raw bytes, freshness, decrypt, token, schema)  ${fmt(median(oursRates))}`,
);
console.log(
  `SDK EventDispatcher.invoke (JSON.parse, signature, decrypt, no token, no schema)  ${fmt(median(sdkRates))}`,
);
console.log(
  `ratio event-core / SDK, per round  ${median(ratios).toFixed(2)}×  (rounds ${low.toFixed(2)}–${high.toFixed(2)}× without the extremes; goal ≥ 1.5×)`,
);

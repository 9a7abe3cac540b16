// The CPU a log line costs, written as the gateway writes it (log.ts, lineDestination: in chunks) against one
// write per line (pino.destination({ sync: false }), what the gateway did before session 12), when lines come
// one at a time: each line is followed by a trip through the thread pool and the event loop (fs.promises.stat,
// as a request's I/O), so that no write is under way when the next line comes. Prints CPU µs per line (all
// threads, process.cpuUsage) and wall µs, in interleaved rounds. Not part of `pnpm bench`; a file per run in a
// temporary folder.
//   cd apps/gateway && node bench/log-lines.mjs
//
// LOG_LINES_BURST=1: lines come 32 at a time (as at 32 connections, where a batch's pushes are answered in one
// turn), and three destinations are compared: one write per line; sonic-boom's own chunks in its text mode
// (pino.destination with minLength 32 KiB: what the gateway did in sessions 12 to 14, where each line cost in
// proportion to the chunk); and lineDestination (session 15: lines written into a chunk of bytes).
import { mkdtempSync, openSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger, lineDestination } from '../dist/log.js';

const dir = mkdtempSync(join(tmpdir(), 'logdest-'));
const N = Number(process.env.LINES ?? 20_000);
const BURST = process.env.LOG_LINES_BURST === '1';
async function run(kind) {
  const fd = openSync(join(dir, `${kind}-${Math.random()}.log`), 'w');
  const destination =
    kind === 'old'
      ? pino.destination({ dest: fd, sync: false })
      : kind === 'text-chunks'
        ? pino.destination({ dest: fd, sync: false, minLength: 32 * 1024, maxWrite: 64 * 1024 })
        : lineDestination(fd);
  await new Promise((r) => destination.once('ready', r));
  const log = createLogger({ level: 'info', destination });
  const cpu = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    log.info(
      {
        examId: `exam-${i}`,
        outcome: 'created',
        tenantKey: 'tenant-1',
        candidate: { phone: '+86 189****1111' },
      },
      'exam received',
    );
    // A trip through the pool and the event loop, as a request's I/O: after each line, or after 32.
    if (!BURST || i % 32 === 31) await stat(dir);
  }
  destination.flushSync();
  const used = process.cpuUsage(cpu);
  return { cpu: (used.user + used.system) / N, wall: ((performance.now() - t) * 1000) / N };
}
const kinds = BURST ? ['old', 'text-chunks', 'new'] : ['old', 'new'];
for (let round = 0; round < 4; round++) {
  const shown = [];
  for (const kind of kinds) {
    const r = await run(kind);
    shown.push(`${kind} ${r.cpu.toFixed(1)} µs cpu/line (${r.wall.toFixed(1)} wall)`);
  }
  console.log(shown.join('   '));
}

// The CPU a log line costs, written as the gateway writes it (log.ts, lineDestination: in chunks) against one
// write per line (pino.destination({ sync: false }), what the gateway did before session 12), when lines come
// one at a time: each line is followed by a trip through the thread pool and the event loop (fs.promises.stat,
// as a request's I/O), so that no write is under way when the next line comes. Prints CPU µs per line (all
// threads, process.cpuUsage) and wall µs, in interleaved rounds. Not part of `pnpm bench`; a file per run in a
// temporary folder.
//   cd apps/gateway && node bench/log-lines.mjs
import { mkdtempSync, openSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger, lineDestination } from '../dist/log.js';

const dir = mkdtempSync(join(tmpdir(), 'logdest-'));
const N = Number(process.env.LINES ?? 20_000);
async function run(kind) {
  const fd = openSync(join(dir, `${kind}-${Math.random()}.log`), 'w');
  const destination = kind === 'old' ? pino.destination({ dest: fd, sync: false }) : lineDestination(fd);
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
    await stat(dir); // a trip through the pool and the event loop, as a request's I/O
  }
  destination.flushSync();
  const used = process.cpuUsage(cpu);
  return { cpu: (used.user + used.system) / N, wall: ((performance.now() - t) * 1000) / N };
}
for (let round = 0; round < 4; round++) {
  const a = await run('old');
  const b = await run('new');
  console.log(
    `old ${a.cpu.toFixed(1)} µs cpu/line (${a.wall.toFixed(1)} wall)   new ${b.cpu.toFixed(1)} µs (${b.wall.toFixed(1)})`,
  );
}

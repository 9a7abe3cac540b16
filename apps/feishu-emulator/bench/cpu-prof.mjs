// Preloaded into the gateway process by loop.bench.mjs when BENCH_LOOP_CPU_PROF names a folder
// (`--cpu-prof` is not allowed in NODE_OPTIONS): profiles the whole process and writes a .cpuprofile
// there when it exits. Summarise one with `node bench/cpu-prof-summary.mjs <folder>`. SIGUSR2 starts the profile
// afresh (the bench sends it when the measured exams begin, so that the warm-up's compilation is left out).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('SIGUSR2', () => {
    session.post('Profiler.stop', () => session.post('Profiler.start'));
  });
  // A session on the process's own thread answers synchronously, so this completes inside 'exit'.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `gateway-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}

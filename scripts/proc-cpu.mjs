// CPU time from Linux's /proc, for the benches: a process's (all its threads) and each thread's. User + system
// time, in clock ticks of 1/100 s (USER_HZ). Figures are NaN (or empty) where /proc is missing.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** CPU seconds a process (or, given a task's stat file, one thread) has used. */
export function cpuSeconds(pid, file = `/proc/${pid}/stat`) {
  try {
    const stat = readFileSync(file, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds by thread name: `main`, libuv's pool and V8's workers (both named after the process, `node`). */
export function cpuByThread(pid) {
  const out = {};
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const seconds = cpuSeconds(pid, `/proc/${pid}/task/${tid}/stat`);
    if (Number.isFinite(seconds)) out[name] = (out[name] ?? 0) + seconds;
  }
  return out;
}

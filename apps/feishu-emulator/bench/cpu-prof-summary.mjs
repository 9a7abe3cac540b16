// Summarises the .cpuprofile files in a folder (written by bench/cpu-prof.mjs) by self time: per package
// (node_modules package, node: module, our own dist folder) and per function. Prints figures only.
//   node bench/cpu-prof-summary.mjs <folder> [how many functions, default 40]
// Given a second folder, compares the two: each package's and function's self time in both and the difference,
// largest differences first (two servers profiled over the same pushes: the ingest bench's rounds).
//   node bench/cpu-prof-summary.mjs <folder> <other folder> [how many functions, default 40]
import { readdirSync, readFileSync } from 'node:fs';

const [dir, second, third] = process.argv.slice(2);
/** The second argument is the other folder unless it is the count. */
const other = second !== undefined && !/^\d+$/.test(second) ? second : undefined;
const top = Number((other ? third : second) ?? 40);
const add = (map, key, t) => map.set(key, (map.get(key) ?? 0) + t);

/** node_modules/.pnpm/x@1/node_modules/@scope/name/lib/a.js → nm:@scope/name/lib/a.js; ours relative. */
const shortUrl = (url) =>
  url.replace(/.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, 'nm:').replace(/.*\/(apps|packages)\//, '$1/');

function packageOf(url, functionName) {
  if (url.startsWith('nm:')) {
    const parts = url.slice(3).split('/');
    return parts.slice(0, parts[0].startsWith('@') ? 2 : 1).join('/');
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  if (url.startsWith('apps/') || url.startsWith('packages/')) return url.split('/').slice(0, 4).join('/');
  return functionName.startsWith('(') ? functionName : url || '(native)';
}

/** Self time (µs) by function and by package over every profile in `folder`, and their total. */
function summarise(folder) {
  const byFunction = new Map();
  const byPackage = new Map();
  let total = 0;
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(`${folder}/${file}`, 'utf8'));
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const parentOf = new Map(profile.nodes.flatMap((n) => (n.children ?? []).map((c) => [c, n.id])));
    /** The profiler's own work (stopping and handing over the profile, through node:inspector): not the server's. */
    const profilers = (id) => {
      for (let at = id; at !== undefined; at = parentOf.get(at))
        if (nodes.get(at).callFrame.url === 'node:inspector') return true;
      return false;
    };
    const selfTime = new Map();
    for (const [i, id] of profile.samples.entries()) add(selfTime, id, profile.timeDeltas[i] ?? 0);
    for (const [id, t] of selfTime) {
      const { functionName, url, lineNumber } = nodes.get(id).callFrame;
      if (functionName === '(idle)' || profilers(id)) continue;
      total += t;
      const short = shortUrl(url);
      add(byFunction, `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`, t);
      add(byPackage, packageOf(short, functionName), t);
    }
  }
  return { byFunction, byPackage, total };
}

const ms = (t) => (t / 1000).toFixed(0).padStart(7);
const a = summarise(dir);

if (!other) {
  const show = (map, n) => {
    for (const [key, t] of [...map].sort((x, y) => y[1] - x[1]).slice(0, n))
      console.log(`${ms(t)} ms ${((100 * t) / a.total).toFixed(1).padStart(5)} %  ${key}`);
  };
  console.log(`main thread, not idle: ${(a.total / 1000).toFixed(0)} ms`);
  console.log('\n## by package (self time)');
  show(a.byPackage, 25);
  console.log('\n## by function (self time)');
  show(a.byFunction, top);
} else {
  const b = summarise(other);
  /** Both folders' times side by side, the largest differences first. */
  const compare = (x, y, n) => {
    const keys = new Set([...x.keys(), ...y.keys()]);
    const rows = [...keys].map((key) => [key, x.get(key) ?? 0, y.get(key) ?? 0]);
    rows.sort((r, s) => Math.abs(s[1] - s[2]) - Math.abs(r[1] - r[2]));
    for (const [key, tx, ty] of rows.slice(0, n)) console.log(`${ms(tx)} ${ms(ty)} ${ms(tx - ty)}  ${key}`);
  };
  console.log(
    `main thread, not idle (ms): ${(a.total / 1000).toFixed(0)} in ${dir}, ${(b.total / 1000).toFixed(0)} in ${other}`,
  );
  console.log('\n## by package (self time, ms: first, second, difference)');
  compare(a.byPackage, b.byPackage, 25);
  console.log('\n## by function (self time, ms: first, second, difference)');
  compare(a.byFunction, b.byFunction, top);
}

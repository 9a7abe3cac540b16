// Summarises the .cpuprofile files in a folder (written by bench/cpu-prof.mjs) by self time: per package
// (node_modules package, node: module, our own dist folder) and per function. Prints figures only.
//   node bench/cpu-prof-summary.mjs <folder> [how many functions, default 40]
import { readdirSync, readFileSync } from 'node:fs';

const dir = process.argv[2];
const top = Number(process.argv[3] ?? 40);
const byFunction = new Map();
const byPackage = new Map();
let total = 0;
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

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfTime = new Map();
  for (const [i, id] of profile.samples.entries()) add(selfTime, id, profile.timeDeltas[i] ?? 0);
  for (const [id, t] of selfTime) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    if (functionName === '(idle)') continue;
    total += t;
    const short = shortUrl(url);
    add(byFunction, `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`, t);
    add(byPackage, packageOf(short, functionName), t);
  }
}

const show = (map, n) => {
  for (const [key, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n))
    console.log(
      `${(t / 1000).toFixed(0).padStart(7)} ms ${((100 * t) / total).toFixed(1).padStart(5)} %  ${key}`,
    );
};
console.log(`main thread, not idle: ${(total / 1000).toFixed(0)} ms`);
console.log('\n## by package (self time)');
show(byPackage, 25);
console.log('\n## by function (self time)');
show(byFunction, top);

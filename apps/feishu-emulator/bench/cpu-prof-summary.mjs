// Summarise .cpuprofile files by self time (function+url) and by package.
import { readdirSync, readFileSync } from 'node:fs';

const dir = process.argv[2];
const top = Number(process.argv[3] ?? 40);
const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
const byFn = new Map(),
  byPkg = new Map();
let total = 0;
for (const f of files) {
  const p = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < p.samples.length; i++)
    dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  for (const [id, t] of dt) {
    const n = nodes.get(id);
    const cf = n.callFrame;
    if (cf.functionName === '(idle)') continue;
    total += t;
    const url = cf.url
      .replace(/.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, 'nm:')
      .replace(/.*\/wt-[^/]+\//, '');
    const k = `${cf.functionName || '(anon)'} ${url}:${cf.lineNumber}`;
    byFn.set(k, (byFn.get(k) ?? 0) + t);
    const pkg = url.startsWith('nm:')
      ? url
          .slice(3)
          .split('/')
          .slice(0, url.slice(3).startsWith('@') ? 2 : 1)
          .join('/')
      : url.startsWith('node:')
        ? 'node:' + url.slice(5).split('/')[0]
        : url.includes('apps/')
          ? url.split('/').slice(0, 4).join('/')
          : cf.functionName.startsWith('(')
            ? cf.functionName
            : url || '(native)';
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + t);
  }
}
const show = (m, n) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .forEach(([k, t]) =>
      console.log(
        `${(t / 1000).toFixed(0).padStart(7)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`,
      ),
    );
console.log(`total non-idle ${(total / 1000).toFixed(0)} ms`);
console.log('--- by package');
show(byPkg, 25);
console.log('--- by function');
show(byFn, top);

// Times every better-sqlite3 statement the gateway runs (wall time inside the call, by SQL text) and writes the
// totals to <tmpdir>/feishu-exam-sql-timing-<pid>.txt when the process exits (the loop bench starts two gateways:
// the loop's, then the push alone's, the later pid). Loaded by ./main.mjs, which the loop bench
// starts in place of the gateway:
//   cd apps/feishu-emulator && FEISHU_EXAM_GATEWAY_MAIN=$PWD/bench/sql-timing/main.mjs \
//     BENCH_LOOP_ONLY=outbound node bench/loop.bench.mjs && head -30 /tmp/feishu-exam-sql-timing-*.txt
// Wall time: on a loaded machine a statement preempted mid-call counts long; compare statements of one run.
const Module = require('node:module');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');

const totals = new Map();
const count = (key, started) => {
  const ns = Number(process.hrtime.bigint() - started);
  const t = totals.get(key) ?? { calls: 0, ns: 0 };
  t.calls++;
  t.ns += ns;
  totals.set(key, t);
};
const label = (sql) => sql.replace(/\s+/g, ' ').slice(0, 160);

const require0 = Module.prototype.require;
let patched = false;
Module.prototype.require = function (id, ...rest) {
  const loaded = require0.call(this, id, ...rest);
  if (!patched && id.includes('better-sqlite3') && typeof loaded === 'function') {
    patched = true;
    const prepare = loaded.prototype.prepare;
    loaded.prototype.prepare = function (sql, ...rest) {
      const statement = prepare.call(this, sql, ...rest);
      for (const method of ['run', 'all', 'get']) {
        const call = statement[method].bind(statement);
        statement[method] = (...args) => {
          const started = process.hrtime.bigint();
          try {
            return call(...args);
          } finally {
            count(label(sql), started);
          }
        };
      }
      return statement;
    };
    const exec = loaded.prototype.exec;
    loaded.prototype.exec = function (sql, ...rest) {
      const started = process.hrtime.bigint();
      try {
        return exec.call(this, sql, ...rest);
      } finally {
        count(`EXEC ${label(sql)}`, started);
      }
    };
  }
  return loaded;
};

process.on('exit', () => {
  const rows = [...totals].sort((a, b) => b[1].ns - a[1].ns).slice(0, 40);
  const lines = rows.map(
    ([sql, t]) =>
      `${(t.ns / 1e6).toFixed(0).padStart(6)} ms ${String(t.calls).padStart(7)} calls ${(t.ns / t.calls / 1e3).toFixed(1).padStart(7)} µs  ${sql}`,
  );
  writeFileSync(join(tmpdir(), `feishu-exam-sql-timing-${process.pid}.txt`), `${lines.join('\n')}\n`);
});

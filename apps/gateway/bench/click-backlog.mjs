// What a staff click's decision costs the store as exams wait for approval (a campus-hiring wave decided the
// next morning): the statement examLifecycle.approve runs for a click (the exam named by its card), timed on a
// database of N exams pending approval, as the gateway writes it now and with its state condition written
// plainly (`state = ?`), as it was before session 19. SQLite plans without statistics: the plain form walked
// idx_exams_state, every pending exam read to find one. The schema is the migrations' (a store opened and
// closed); the statement is the one the gateway issues (captured from examLifecycle.approve). CPU per click,
// each form on its own connection, in turns. Prints figures only.
//   cd apps/gateway && pnpm build && node bench/click-backlog.mjs   (BACKLOGS=100,2000,20000 CLICKS=1000)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { checkedOnRow, openStore } from '../dist/store/index.js';
import { examLifecycle } from '../dist/workflow/exam-lifecycle.js';

const BACKLOGS = (process.env.BACKLOGS ?? '100,2000,20000').split(',').map(Number);
const CLICKS = Number(process.env.CLICKS ?? 1000);

/** The UPDATE a click's approval runs, as examLifecycle writes it (its first statement). */
async function approvalStatement(store) {
  const issued = [];
  const tx = {
    dataSource: store.dataSource,
    run: async (sql) => {
      issued.push(sql);
      return 0;
    },
    // Nothing found: the transition then looks the exam up and gives up (not_found).
    all: async (sql) => {
      issued.push(sql);
      return [];
    },
  };
  await examLifecycle.approve(tx, { examId: 'x', cardMessageId: 'om_x' }, 'ou_staff', 1);
  const [update] = issued;
  if (!update?.startsWith('UPDATE exams')) throw new Error(`unexpected first statement: ${update}`);
  return update;
}

const plainState = (sql) => sql.replace(checkedOnRow('state = ?'), 'state = ?');
const examId = (i) => `7147998241${String(i).padStart(9, '0')}`;

for (const backlog of BACKLOGS) {
  const dir = mkdtempSync(join(tmpdir(), 'click-backlog-'));
  const file = join(dir, 'gateway.sqlite');
  const store = await openStore(`sqlite:${file}`, pino({ level: 'silent' }));
  const now = await approvalStatement(store);
  await store.close();
  const forms = { now, before: plainState(now) };
  if (forms.before === now) throw new Error('the state condition was not found in the statement');
  const connections = {};
  for (const [name, sql] of Object.entries(forms)) {
    // Each form decides exams on a copy of the same backlog (its own file), so neither finds the other's done.
    const copy = join(dir, `${name}.sqlite`);
    const db = new Database(file);
    db.exec(`VACUUM INTO '${copy}'`);
    db.close();
    const own = new Database(copy);
    own.pragma('journal_mode = WAL');
    own.pragma('temp_store = MEMORY');
    const insert = own.prepare(
      `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, candidate, state, card_message_id, received_at, updated_at)
       VALUES (?, 't1', 'cli_1', ?, '{"name":"x"}', 'pending_approval', ?, 0, 0)`,
    );
    own.transaction(() => {
      for (let i = 0; i < backlog; i++) insert.run(examId(i), `ev_${i}`, `om_${i}`);
    })();
    const plan = own
      .prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .all('arranging', 2, 'ou_staff', 2, 'x', 'om_x', 'pending_approval')
      .map((r) => r.detail)
      .join(' | ');
    connections[name] = { db: own, statement: own.prepare(sql), plan, cpuUs: 0, decided: 0 };
  }
  // In turns of 50 clicks, so that the machine's changes of speed fall on both forms alike.
  // At most half the backlog, so that at least half of it is still pending at the last click.
  const clicks = Math.min(CLICKS, Math.floor(backlog / 2));
  for (let start = 0; start < clicks; start += 50) {
    for (const c of Object.values(connections)) {
      const before = process.cpuUsage();
      // The turn's clicks in one transaction: what is timed is the statement, not a commit per click.
      c.db.transaction(() => {
        for (let i = start; i < Math.min(clicks, start + 50); i++)
          c.decided += c.statement.all(
            'arranging',
            2,
            'ou_staff',
            2,
            examId(i),
            `om_${i}`,
            'pending_approval',
          ).length;
      })();
      const used = process.cpuUsage(before);
      c.cpuUs += used.user + used.system;
    }
  }
  console.log(`${backlog.toLocaleString('en-US')} exams pending approval at the start, ${clicks} clicks:`);
  for (const [name, c] of Object.entries(connections)) {
    if (c.decided !== clicks) throw new Error(`${name}: ${c.decided} of ${clicks} clicks decided their exam`);
    console.log(`  ${name.padEnd(6)} ${(c.cpuUs / clicks).toFixed(1).padStart(7)} µs a click   ${c.plan}`);
    c.db.close();
  }
  rmSync(dir, { recursive: true, force: true });
}

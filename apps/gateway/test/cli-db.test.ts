// `feishu-exam db backup` and `db migrate`, as an operator meets them: a backup run from the wrong folder or
// with a typo in DATABASE_URL, a backup taken before an upgrade with the new release's command, a database
// that does not answer. Audit (operations): each failed on the code before its fix.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/output.js';
import { runCli } from '../src/cli/program.js';

async function cli(args: string[], env: Record<string, string | undefined>) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env, cwd: tmpdir() };
  const code = await runCli(args, io);
  return { code, out, err };
}

const migrations = (file: string) => {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return (db.prepare('SELECT name FROM migrations').all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
};

describe('feishu-exam db backup', () => {
  it('where DATABASE_URL names no database (a typo, the wrong folder): fails, and creates neither a database nor a copy', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'cli-db-'));
    const database = join(folder, 'data', 'feishu-exam.sqlite');
    const copy = join(folder, 'copy.sqlite');
    const run = await cli(['db', 'backup', copy], { DATABASE_URL: `sqlite:${database}` });
    expect(run.out.join('\n')).not.toMatch(/backed up/);
    expect(run.code).toBe(1);
    expect(run.err.join('\n')).toMatch(/no database at/);
    expect(existsSync(database)).toBe(false);
    expect(existsSync(copy)).toBe(false);
  });

  it('copies the database as it is: the backup taken before an upgrade, with the new release, does not migrate it', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'cli-db-'));
    const database = join(folder, 'gateway.sqlite');
    const env = { DATABASE_URL: `sqlite:${database}` };
    expect((await cli(['db', 'migrate'], env)).code).toBe(0);
    // The database of the release before this one: its last migration not applied yet.
    const db = new BetterSqlite3(database);
    const last = (
      db.prepare('SELECT name FROM migrations ORDER BY id DESC LIMIT 1').get() as { name: string }
    ).name;
    expect(last).toBe('CardQueue1764000000017');
    db.exec('DROP INDEX idx_exams_card_queue');
    db.exec('ALTER TABLE exams DROP COLUMN card_locked_by');
    db.exec('ALTER TABLE exams DROP COLUMN card_due_at');
    db.prepare('DELETE FROM migrations WHERE name = ?').run(last);
    db.close();
    const before = migrations(database);

    const copy = join(folder, 'before-upgrade.sqlite');
    const run = await cli(['db', 'backup', copy], env);
    expect(run.code).toBe(0);
    expect(migrations(database)).toEqual(before);
    expect(migrations(copy)).toEqual(before);
  });
});

describe('feishu-exam db migrate', () => {
  it('a database that does not answer: one ✗ line and exit 1, not a crash with a stack trace', async () => {
    const password = 'Pg-Pass-0123456789';
    const run = cli(['db', 'migrate'], {
      DATABASE_URL: `postgres://exam:${password}@127.0.0.1:9/feishu_exam`,
    });
    await expect(run).resolves.toMatchObject({ code: 1 });
    const { out, err } = await run.catch(() => ({ out: [], err: [] }));
    expect(err.join('\n')).toMatch(/^✗ .*ECONNREFUSED/);
    expect([...out, ...err].join('\n')).not.toContain(password);
  });
});

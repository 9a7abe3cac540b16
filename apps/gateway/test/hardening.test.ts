// Regression tests for the outside security review (issue 9): each failed on the code before its fix.
import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { IsNull, Not } from 'typeorm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { claimDueJobs, completeJobs, enqueueJob, enqueueJobs } from '../src/outbox/jobs.js';
import { ExamEntity, JobEntity, openStore, type Store } from '../src/store/index.js';
import { ERASE_BATCH, examLifecycle } from '../src/workflow/exam-lifecycle.js';
import { messageUuid } from '../src/workflow/jobs.js';
import { examCreatedEvent, startTestGateway, tempDatabaseUrl, testStoreOptions } from './support.js';

const silent = pino({ level: 'silent' });
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
async function freshStore(url = tempDatabaseUrl()): Promise<Store> {
  const store = await openStore(url, silent, testStoreOptions);
  stores.push(store);
  return store;
}

const examEvent = (examId: string) =>
  examCreatedEvent(examId, undefined, {
    name: '王二',
    mobile: { code: '86', number: '18900001111' },
    email: 'w@x.example',
  });

const arrangement = { examUrl: 'https://exam.example/e/1', username: 'u1', password: 'pw-secret-1' };
const result = { score: '90' };

/** An exam approved and arranged by `providerId`; `reported`: Feishu Hire has its login info. */
async function arrangedExam(store: Store, examId: string, providerId: string, reported = true) {
  await store.write(async (tx) => {
    await examLifecycle.receive(tx, examEvent(examId), 1);
    await examLifecycle.approve(tx, examId, 'ou_staff', 2);
    await examLifecycle.arrangementMade(tx, examId, providerId, arrangement, 3);
    if (reported) await examLifecycle.loginInfoReported(tx, examId, 4);
  });
}

const examRow = (store: Store, examId: string) =>
  store.dataSource.getRepository(ExamEntity).findOneByOrFail({ examId });

describe('results are accepted only from the provider that arranged the exam, once it is arranged', () => {
  it('holds a result for an exam still arranging (Feishu Hire has no login info for it yet) and reports it once it has', async () => {
    const store = await freshStore();
    await arrangedExam(store, 'r-arranging', 'sandbox', false);
    const reports = () => store.dataSource.getRepository(JobEntity).countBy({ kind: 'report_result' });
    // Not from another platform, and not for an exam no platform has yet.
    expect(
      await store.write((tx) => examLifecycle.resultReceived(tx, 'r-arranging', 'platform-p', result, 5)),
    ).toBe('not_this_provider');
    await store.write(async (tx) => {
      await examLifecycle.receive(tx, examEvent('r-unarranged'), 1);
      await examLifecycle.approve(tx, 'r-unarranged', 'ou_staff', 2);
    });
    expect(
      await store.write((tx) => examLifecycle.resultReceived(tx, 'r-unarranged', 'sandbox', result, 5)),
    ).toBe('not_arranged');
    expect((await examRow(store, 'r-unarranged')).result).toBeNull();
    // Kept, not reported: Feishu Hire refuses a result for an exam it has no login info for.
    const outcome = await store.write((tx) =>
      examLifecycle.resultReceived(tx, 'r-arranging', 'sandbox', result, 5),
    );
    expect(outcome).toBe('held');
    expect((await examRow(store, 'r-arranging')).result).toEqual(result);
    expect(await reports()).toBe(0);
    // The login info reported (twice: a job run again after a crash): one report of the held result.
    await store.write((tx) => examLifecycle.loginInfoReported(tx, 'r-arranging', 6));
    await store.write((tx) => examLifecycle.loginInfoReported(tx, 'r-arranging', 7));
    expect((await examRow(store, 'r-arranging')).state).toBe('arranged');
    expect(await reports()).toBe(1);
  });

  it('refuses a result from another provider instance, and records one from the arranging provider', async () => {
    const store = await freshStore();
    await arrangedExam(store, 'r-mine', 'platform-q');
    expect(
      await store.write((tx) => examLifecycle.resultReceived(tx, 'r-mine', 'platform-p', result, 5)),
    ).toBe('not_this_provider');
    expect((await examRow(store, 'r-mine')).result).toBeNull();
    expect(
      await store.write((tx) => examLifecycle.resultReceived(tx, 'r-mine', 'platform-q', result, 5)),
    ).toBe('recorded');
    expect((await examRow(store, 'r-mine')).result).toEqual(result);
  });
});

describe('message uuids', () => {
  it('two exam ids with the same first 50 characters get different card uuids, each at most 50 characters', () => {
    const prefix = '7'.repeat(50);
    const a = messageUuid('exam', `${prefix}1`);
    const b = messageUuid('exam', `${prefix}2`);
    expect(a).not.toBe(b);
    expect(a.length).toBeLessThanOrEqual(50);
    expect(messageUuid('exam', 'x'.repeat(500_000)).length).toBeLessThanOrEqual(50);
    expect(messageUuid('exam', `${prefix}1`)).toBe(a);
  });
});

describe('exam ids in Open Platform paths', () => {
  it('are percent-encoded: a stored id with ../ cannot point login_info at another API', async () => {
    const paths: string[] = [];
    const platform = createServer((req, res) => {
      if (req.url?.includes('access_token')) {
        res.end(JSON.stringify({ code: 0, tenant_access_token: 't-1', expire: 7200 }));
        return;
      }
      paths.push(req.url ?? '');
      res.end(JSON.stringify({ code: 0, msg: 'success', data: {} }));
    });
    await new Promise<void>((r) => platform.listen(0, '127.0.0.1', r));
    const gw = await startTestGateway({
      FEISHU_DOMAIN: `http://127.0.0.1:${(platform.address() as AddressInfo).port}`,
      OUTBOX_POLL_MS: '20',
    });
    try {
      // Written past the door (ids are validated there): what is stored must still be safe to use.
      const examId = '1/../../../../im/v1/messages?receive_id_type=chat_id#';
      await gw.store.write(async (tx) => {
        await tx.run(
          `INSERT INTO exams (exam_id, tenant_key, app_id, event_id, candidate, state, reject_reason, received_at, updated_at)
           VALUES (?, 't1', 'cli_1', 'ev-path', '{}', 'rejected', 'no', 1, 1)`,
          [examId],
        );
        await enqueueJob(tx, { kind: 'report_login_info', examId, idempotencyKey: 'login_info:path' }, 1);
      });
      gw.worker.wake();
      for (let i = 0; i < 200 && !paths.some((p) => p.includes('eco_exams')); i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(paths.filter((p) => p.includes('eco_exams'))).toEqual([
        `/open-apis/hire/v1/eco_exams/${encodeURIComponent(examId)}/login_info`,
      ]);
      expect(paths.some((p) => p.includes('/im/v1/messages'))).toBe(false);
    } finally {
      await gw.close();
      platform.close();
    }
  });
});

describe('the SQLite database is private', () => {
  it('a new database gets a 0700 folder and 0600 files, -wal and -shm included', async () => {
    const folder = join(mkdtempSync(join(tmpdir(), 'perm-')), 'data', 'nested');
    const file = join(folder, 'gateway.sqlite');
    const store = await freshStore(`sqlite:${file}`);
    await store.write(async (tx) => examLifecycle.receive(tx, examEvent('perm-1'), 1));
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    for (const name of [file, `${file}-wal`, `${file}-shm`]) expect(statSync(name).mode & 0o777).toBe(0o600);
  });

  it('an existing world-readable folder holding only the database, and its 0644 file, are tightened', async () => {
    const folder = join(mkdtempSync(join(tmpdir(), 'perm-')), 'data');
    mkdirSync(folder, { mode: 0o755 });
    chmodSync(folder, 0o755);
    const file = join(folder, 'gateway.sqlite');
    writeFileSync(file, '');
    chmodSync(file, 0o644);
    await freshStore(`sqlite:${file}`);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

/** A new database with `count` exams rejected in 1970, long past the default RETENTION_DAYS; its URL. */
async function examsEndedLongAgo(count: number): Promise<string> {
  const url = tempDatabaseUrl();
  const store = await freshStore(url);
  const ids = Array.from({ length: count }, (_, i) => `ended-${i}`);
  await store.write(async (tx) => {
    await examLifecycle.receiveMany(tx, ids.map(examEvent), 1);
    for (const id of ids) await examLifecycle.reject(tx, id, 'ou_staff', 'no', 1_000);
  });
  await store.close();
  return url;
}

describe('retention', () => {
  it('erases contact data and exam passwords of exams that ended before the cut-off, nothing else', async () => {
    const store = await freshStore();
    await arrangedExam(store, 'ret-old', 'sandbox');
    await store.write(async (tx) => {
      await examLifecycle.receive(tx, examEvent('ret-pending'), 1);
      await examLifecycle.receive(tx, examEvent('ret-recent'), 1);
      await examLifecycle.reject(tx, 'ret-recent', 'ou_staff', 'no', 1_000);
    });
    expect(await store.write((tx) => examLifecycle.erasePersonalData(tx, 500, 2_000))).toBe(1);
    const old = await examRow(store, 'ret-old');
    expect(old.candidate).toEqual({ name: '王二' });
    expect(old.arrangement).toEqual({ examUrl: arrangement.examUrl, username: 'u1' });
    expect(old.personalDataErasedAt).toBe(2_000);
    // Still pending (not ended), and ended after the cut-off: untouched.
    expect((await examRow(store, 'ret-pending')).candidate.email).toBe('w@x.example');
    expect((await examRow(store, 'ret-recent')).candidate.mobileNumber).toBe('18900001111');
    expect(await store.write((tx) => examLifecycle.erasePersonalData(tx, 500, 3_000))).toBe(0);
  });

  it('erases a backlog larger than one batch at start, batch after batch, not a batch an hour', async () => {
    const backlog = ERASE_BATCH * 2 + 100;
    const url = await examsEndedLongAgo(backlog);
    const gw = await startTestGateway({ DATABASE_URL: url, OUTBOX_WORKER: 'off' });
    try {
      const unerased = () =>
        gw.store.dataSource.getRepository(ExamEntity).countBy({ personalDataErasedAt: IsNull() });
      await vi.waitFor(async () => expect(await unerased()).toBe(0), { timeout: 10_000, interval: 50 });
    } finally {
      await gw.close();
    }
    const erasedLines = gw
      .logs()
      .filter((l) => String(l.msg).startsWith('personal data of ended exams erased'));
    expect(erasedLines.map((l) => l.erased)).toEqual([backlog]);
  });

  it('deletes the jobs finished JOB_HISTORY_DAYS ago at start, a backlog in one round, and keeps the recent ones', async () => {
    const url = tempDatabaseUrl();
    const store = await freshStore(url);
    const backlog = 2_100;
    const finishedAt = async (keys: string[], at: number) =>
      store.write(async (tx) => {
        await enqueueJobs(
          tx,
          keys.map((key) => ({ kind: 'post_card' as const, examId: key, idempotencyKey: key })),
          at,
        );
        const claimed = await claimDueJobs(tx, 'w1', keys.length, 60_000, at);
        await completeJobs(tx, claimed, 'w1', at);
      });
    // Finished in 1970, and an hour ago.
    await finishedAt(
      Array.from({ length: backlog }, (_, i) => `old-${i}`),
      1_000,
    );
    await finishedAt(['recent'], Date.now() - 3_600_000);
    await store.close();
    const gw = await startTestGateway({ DATABASE_URL: url, OUTBOX_WORKER: 'off' });
    const jobs = gw.store.dataSource.getRepository(JobEntity);
    try {
      await vi.waitFor(async () => expect(await jobs.countBy({ state: 'done' })).toBe(1), {
        timeout: 10_000,
        interval: 50,
      });
    } finally {
      await gw.close();
    }
    const lines = gw.logs().filter((l) => String(l.msg).startsWith('finished jobs deleted'));
    expect(lines.map((l) => l.deleted)).toEqual([backlog]);
  });

  it('stops erasing a backlog at the batch under way when the gateway shuts down', async () => {
    const url = await examsEndedLongAgo(ERASE_BATCH * 4);
    // Closed as soon as it has started: the first batch is still being written (it waits for its sync).
    const gw = await startTestGateway({ DATABASE_URL: url, OUTBOX_WORKER: 'off' });
    await gw.close();
    const reopened = await freshStore(url);
    const erased = await reopened.dataSource
      .getRepository(ExamEntity)
      .countBy({ personalDataErasedAt: Not(IsNull()) });
    expect(erased).toBe(ERASE_BATCH);
  });
});

describe('start-up warnings', () => {
  it('warn without an Encrypt Key, and when anyone in the chat may decide', async () => {
    const gw = await startTestGateway({ FEISHU_ENCRYPT_KEY: '', APPROVER_OPEN_IDS: '' });
    await gw.close();
    const warnings = gw
      .logs()
      .filter((l) => l.level === 'warn')
      .map((l) => String(l.msg));
    expect(warnings.some((m) => m.includes('FEISHU_ENCRYPT_KEY is not set'))).toBe(true);
    expect(warnings.some((m) => m.includes('APPROVER_OPEN_IDS is empty'))).toBe(true);

    const quiet = await startTestGateway({ APPROVER_OPEN_IDS: 'ou_staff' });
    await quiet.close();
    const said = quiet.logLines.join('\n');
    expect(said).not.toContain('FEISHU_ENCRYPT_KEY is not set');
    expect(said).not.toContain('APPROVER_OPEN_IDS is empty');
  });
});

describe('the sandbox (a simulated exam platform) outside the demo', () => {
  it('warns loudly at start; with NODE_ENV=production it stops the start unless explicitly allowed', async () => {
    const dev = await startTestGateway();
    await dev.close();
    expect(dev.logLines.join('\n')).toContain('candidates routed there get fake exams');

    await expect(startTestGateway({ NODE_ENV: 'production' })).rejects.toMatchObject({
      name: 'StartupConfigError',
      problems: [expect.stringContaining('NODE_ENV=production refuses them')],
    });

    const allowed = await startTestGateway({ NODE_ENV: 'production', ALLOW_SANDBOX_PROVIDER: 'true' });
    await allowed.close();
    expect(allowed.logLines.join('\n')).not.toContain('fake exams');
  });
});

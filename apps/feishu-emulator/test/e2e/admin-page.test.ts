// The gateway's admin page in a real browser (Debian's chromium): an operator signs in with the token through
// the form, sees the exams (a candidate named like a script is shown as text and never runs), and retries a
// dead job with the page's button; the exam then reaches Feishu Hire.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, type Browser, chromiumMissing, launchChromium, warnIfMissing } from './browser.js';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  type Platform,
  startGateway,
  startPlatform,
  until,
} from './harness.js';

warnIfMissing('admin-page.test.ts');
const BOSS = 'ou_admin_page_boss';
const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)>';

let platform: Platform;
let gateway: GatewayProcess;
let chromium: Browser;

describe.skipIf(chromiumMissing)('the admin page in chromium', () => {
  beforeAll(async () => {
    platform = await startPlatform();
    gateway = await startGateway(platform, { APPROVER_OPEN_IDS: BOSS });
    chromium = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await chromium?.close();
    await gateway?.stop();
    await platform?.running.close();
  });

  it('signs in through the form, shows exams escaped, and retries a dead job from its button', async () => {
    const examId = 'admin-page-stuck';
    // A permanent refusal parks the login_info job as dead.
    platform.emulator.injectFaults({
      match: `/eco_exams/${examId}/login_info`,
      kind: 'invalid_request',
      count: 1,
    });
    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, {
      ...examPayload(examId),
      candidate_info: { name: EVIL },
    });
    await until('the card', () => cardsFor(platform.emulator, examId)[0]);
    await clickFor(platform, gateway, examId, BOSS, 'approve');
    await until(
      'the stuck-exam card',
      () =>
        [...platform.emulator.state.messages.values()].find(
          (m) => m.content.includes('An exam needs attention') && m.content.includes(examId),
        ),
      30_000,
    );
    platform.emulator.clearFaults();

    const page = await chromium.context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const signIn = await page.goto(`${gateway.url}/admin/ui`);
    expect(signIn?.status()).toBe(401);
    await page.locator('input[name=token]').fill(ADMIN_TOKEN);
    await Promise.all([
      page.waitForURL(`${gateway.url}/admin/ui`),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    await page.getByRole('heading', { name: 'Exams' }).waitFor();
    const cookies = await chromium.context.cookies(`${gateway.url}/admin/ui`);
    expect(cookies.find((c) => c.name === 'feishu_exam_admin')).toMatchObject({
      httpOnly: true,
      sameSite: 'Strict',
    });

    const row = page.locator('tr', { hasText: examId }).first();
    await expect.poll(() => row.locator('td').nth(2).textContent()).toBe(EVIL);
    await page.screenshot({ path: join(ARTIFACTS, 'admin.png'), fullPage: true });

    const jobRow = page.locator('tr', { hasText: 'report_login_info' }).filter({ hasText: examId });
    await Promise.all([
      page.waitForURL(/notice=retried/),
      jobRow.getByRole('button', { name: 'Retry' }).click(),
    ]);
    await page.getByText('The job is queued again.').waitFor();
    await until('login_info after the retry', () => loginInfoFor(platform.emulator, examId).length === 1);
    expect(dialogs).toEqual([]);
  }, 90_000);
});

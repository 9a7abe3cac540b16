// The production bundle (`pnpm --filter @feishu-exam/gateway deploy --prod`, no dev dependencies), started as
// it would be deployed and taken through one exam end to end. CI builds the bundle and points
// FEISHU_EXAM_GATEWAY_MAIN at its entry point; without it this test is skipped.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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

const bundleMain = process.env.FEISHU_EXAM_GATEWAY_MAIN;
let platform: Platform | undefined;
let gateway: GatewayProcess | undefined;
afterAll(async () => {
  await gateway?.stop();
  await platform?.running.close();
});

describe.skipIf(!bundleMain)('the production bundle', () => {
  it('holds no dev dependencies, starts, and takes one exam from push to login_info', async () => {
    const modules = join(dirname(dirname(bundleMain as string)), 'node_modules');
    expect(existsSync(join(modules, 'koa'))).toBe(true);
    for (const dev of ['typescript', '@biomejs', '@types/koa'])
      expect(existsSync(join(modules, dev)), dev).toBe(false);

    platform = await startPlatform();
    gateway = await startGateway(platform, { NODE_ENV: 'production', ALLOW_SANDBOX_PROVIDER: 'true' });
    const examId = 'bundle-1';
    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload(examId));
    await until('the card', () => cardsFor(platform?.emulator as Platform['emulator'], examId)[0]);
    await clickFor(platform, gateway, examId, 'ou_staff', 'approve');
    const [report] = await until('login_info', () => {
      const r = loginInfoFor(platform?.emulator as Platform['emulator'], examId);
      return r.length > 0 && r;
    });
    expect(report?.result).toBe(0);
    expect(report?.exam_login_info.exam_url).toMatch(/^https:\/\//);
  }, 60_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  type Platform,
  providersFile,
  startGateway,
  startPlatform,
  until,
} from './harness.js';

let platform: Platform;
let gateway: GatewayProcess;
beforeAll(async () => {
  // One platform, serving one paper, and no default: an exam for any other paper has nowhere to go.
  const file = providersFile('providers:\n  - id: sbx\n    type: sandbox\n    papers: [paper-x]\n');
  platform = await startPlatform();
  gateway = await startGateway(platform, { PROVIDERS_FILE: file });
});
afterAll(async () => {
  await gateway.stop();
  await platform.running.close();
});

describe('without a default provider', () => {
  it('an exam no platform serves still gets a card that says what is wrong, and staff can reject it with that reason', async () => {
    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload('e2e-orphan'));
    const card = await until('the card', () => cardsFor(platform.emulator, 'e2e-orphan')[0]);
    expect(card.content).toContain('cannot be arranged as it stands');
    expect(card.content).toContain('no provider serves paper paper001 and no default provider is configured');
    await clickFor(
      platform,
      gateway,
      'e2e-orphan',
      'ou_staff',
      'reject',
      'no provider serves paper paper001',
    );
    const [info] = await until(
      'login_info',
      () =>
        loginInfoFor(platform.emulator, 'e2e-orphan').length > 0 &&
        loginInfoFor(platform.emulator, 'e2e-orphan'),
    );
    expect(info).toMatchObject({
      result: 1,
      msg: expect.stringContaining('no provider serves paper paper001'),
    });
  });

  it('approving it anyway fails the exam with the same reason, reported to Feishu Hire', async () => {
    await platform.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload('e2e-orphan-2'));
    await until('the card', () => cardsFor(platform.emulator, 'e2e-orphan-2')[0]);
    await clickFor(platform, gateway, 'e2e-orphan-2', 'ou_staff', 'approve');
    const [info] = await until(
      'login_info',
      () =>
        loginInfoFor(platform.emulator, 'e2e-orphan-2').length > 0 &&
        loginInfoFor(platform.emulator, 'e2e-orphan-2'),
    );
    expect(info).toMatchObject({
      result: 2,
      msg: expect.stringContaining('no provider serves paper paper001'),
    });
    await until('the failed card', () =>
      cardsFor(platform.emulator, 'e2e-orphan-2')[0]?.content.includes('Arrangement failed'),
    );
  });
});

// The console in a real browser: Debian's chromium driven by playwright-core (no browser download). A staff
// member delivers an exam from the page, sees its card, approves it in the page, and watches the card turn
// to "arranged" and login_info reach the Open Platform; screenshots land in test-artifacts/.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, LONG_CONNECTION } from '../../src/index.js';
import { ARTIFACTS, type Browser, chromiumMissing, launchChromium, warnIfMissing } from './browser.js';
import {
  app,
  cardsFor,
  type GatewayProcess,
  type Platform,
  startGateway,
  startPlatform,
  tempDatabaseUrl,
  until,
} from './harness.js';

warnIfMissing('console.test.ts');
const STAFF = 'ou_console_staff';

let platform: Platform;
let gateway: GatewayProcess;
let chromium: Browser;
let browser: BrowserContext;

describe.skipIf(chromiumMissing)('the emulator console in chromium', () => {
  beforeAll(async () => {
    platform = await startPlatform();
    gateway = await startGateway(platform, { APPROVER_OPEN_IDS: STAFF });
    platform.emulator.console.configure({ gatewayUrl: gateway.url, operators: [STAFF] });
    chromium = await launchChromium();
    browser = chromium.context;
  }, 60_000);
  afterAll(async () => {
    await chromium?.close();
    await gateway?.stop();
    await platform?.running.close();
  });

  it('delivers an exam, shows its card, approves it in the page, and shows it arranged and login_info', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${platform.running.url}/console`);
    await page.getByTestId('live').filter({ hasText: 'live' }).waitFor();
    expect(await page.locator('#gateway-url').inputValue()).toBe(gateway.url);

    const examId = `console-e2e-${Date.now()}`;
    const candidate = 'Ada Lovelace';
    await page.locator('input[name=exam_id]').fill(examId);
    await page.locator('input[name=candidate_name]').fill(candidate);
    await page.getByTestId('deliver-exam').click();

    const posted = await until('the card', () => cardsFor(platform.emulator, examId)[0]);
    const card = page.locator(`[data-message-id="${posted.messageId}"]`);
    await card.getByText(candidate).waitFor();
    const locales = languagesOf(posted.content);
    for (const locale of locales) await screenshot(page, locale, 'pending');

    // Approve in English (the wording the assertions read); clicked again while the gateway has posted the
    // card but not yet recorded it ("click again in a moment"), as a staff member would.
    await page.locator('button[data-locale=en_us]').click();
    await approveInPage(page, platform.emulator, posted.messageId);

    await explained(
      gateway,
      page
        .locator(`[data-message-id="${posted.messageId}"] [data-testid=card-title]`)
        .filter({ hasText: /arranged/i })
        .waitFor({ timeout: 20_000 }),
    );
    const loginInfo = page.locator(`[data-testid=call][data-path$="/eco_exams/${examId}/login_info"]`);
    await loginInfo.waitFor({ timeout: 20_000 });
    await loginInfo.locator('summary').click();
    await expect.poll(() => loginInfo.locator('pre').textContent()).toContain('exam_login_info');

    // Secrets stay off the page even with the token calls shown.
    await page.locator('#show-tokens').check();
    expect(await page.content()).not.toContain(app.appSecret);

    for (const locale of locales) await screenshot(page, locale, 'arranged');
    expect(errors).toEqual([]);
  }, 90_000);

  it('keeps a card the live feed updated while a click was on its way (the click answer re-renders the newest)', async () => {
    const feishu = platform.running.url;
    const { tenant_access_token: token } = (await (
      await fetch(`${feishu}/open-apis/auth/v3/tenant_access_token/internal`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ app_id: app.appId, app_secret: app.appSecret }),
      })
    ).json()) as { tenant_access_token: string };
    const auth = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const titled = (title: string) =>
      JSON.stringify({
        schema: '2.0',
        config: { update_multi: true },
        header: { title: { tag: 'plain_text', content: title } },
        body: {
          elements: [
            {
              tag: 'button',
              text: { tag: 'plain_text', content: 'Go' },
              behaviors: [{ type: 'callback', value: { action: 'go' } }],
            },
          ],
        },
      });
    const sent = (await (
      await fetch(`${feishu}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ receive_id: 'oc_race', msg_type: 'interactive', content: titled('Before') }),
      })
    ).json()) as { data: { message_id: string } };

    // A gateway that holds its answer until told, then fails (so the emulator reports no change of its own).
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let clicked: () => void = () => undefined;
    const arrived = new Promise<void>((r) => {
      clicked = r;
    });
    const slowGateway = createServer((req, res) => {
      req.resume();
      clicked();
      void held.then(() => res.writeHead(500).end('{}'));
    });
    await new Promise<void>((r) => slowGateway.listen(0, '127.0.0.1', r));
    try {
      const page = await browser.newPage();
      await page.goto(`${feishu}/console/`);
      await page
        .locator('#gateway-url')
        .fill(`http://127.0.0.1:${(slowGateway.address() as AddressInfo).port}`);
      const card = page.locator(`[data-message-id="${sent.data.message_id}"]`);
      await card.getByRole('button', { name: 'Go' }).click();
      await arrived;
      // While the click waits, the card is patched: the page shows it live.
      await fetch(`${feishu}/open-apis/im/v1/messages/${sent.data.message_id}`, {
        method: 'PATCH',
        headers: auth,
        body: JSON.stringify({ content: titled('After') }),
      });
      await card.getByTestId('card-title').filter({ hasText: 'After' }).waitFor();
      release();
      await card.getByTestId('toast').filter({ hasText: 'callback answered 500' }).waitFor();
      expect(await card.getByTestId('card-title').textContent()).toBe('After');
    } finally {
      release();
      await new Promise((r) => slowGateway.close(r));
    }
  }, 60_000);

  it('renders a bilingual card in the language chosen, and re-renders it live when it is patched', async () => {
    const feishu = platform.running.url;
    const { tenant_access_token: token } = (await (
      await fetch(`${feishu}/open-apis/auth/v3/tenant_access_token/internal`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ app_id: app.appId, app_secret: app.appSecret }),
      })
    ).json()) as { tenant_access_token: string };
    const auth = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const bilingual = (zh: string, en: string) =>
      JSON.stringify({
        schema: '2.0',
        config: { update_multi: true, locales: ['zh_cn', 'en_us'] },
        header: {
          template: 'blue',
          title: { tag: 'plain_text', content: zh, i18n_content: { zh_cn: zh, en_us: en } },
        },
        body: {
          elements: [
            {
              tag: 'markdown',
              content: '**候选人**：张三',
              i18n_content: { zh_cn: '**候选人**：张三', en_us: '**Candidate**: Zhang San' },
            },
          ],
        },
      });
    const sent = (await (
      await fetch(`${feishu}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({
          receive_id: 'oc_i18n',
          msg_type: 'interactive',
          content: bilingual('笔试安排审批', 'Exam approval'),
        }),
      })
    ).json()) as { data: { message_id: string } };

    const page = await browser.newPage();
    await page.goto(`${feishu}/console/`);
    const card = page.locator(`[data-message-id="${sent.data.message_id}"]`);
    await page.locator('button[data-locale=zh_cn]').click();
    await card.getByTestId('card-title').filter({ hasText: '笔试安排审批' }).waitFor();
    await card.getByText('张三').waitFor();
    await card.screenshot({ path: join(ARTIFACTS, 'bilingual-zh_cn.png') });
    await page.locator('button[data-locale=en_us]').click();
    await card.getByTestId('card-title').filter({ hasText: 'Exam approval' }).waitFor();
    await card.getByText('Zhang San').waitFor();
    await card.screenshot({ path: join(ARTIFACTS, 'bilingual-en_us.png') });

    // A patch reaches the open page by server-sent events.
    await fetch(`${feishu}/open-apis/im/v1/messages/${sent.data.message_id}`, {
      method: 'PATCH',
      headers: auth,
      body: JSON.stringify({ content: bilingual('已安排', 'Exam arranged') }),
    });
    await card.getByTestId('card-title').filter({ hasText: 'Exam arranged' }).waitFor();
  }, 60_000);
});

describe.skipIf(chromiumMissing)('the console with a gateway on the long connection', () => {
  /** A self-built app whose id the SDK's WSClient accepts (cli_ + 16 hex digits). */
  const wsApp = { appId: 'cli_e2e0000000000c01', appSecret: 'e2e-console-ws-secret-0123456789' };
  let wsPlatform: Platform;
  let wsGateway: GatewayProcess;
  let wsChromium: Browser;
  beforeAll(async () => {
    const emulator = createEmulator({
      apps: [wsApp],
      retrySchedule: [1000, 2000, 4000, 8000],
      longConnection: {
        ackTimeoutMs: 3000,
        clientConfig: { PingInterval: 0.3, ReconnectInterval: 1, ReconnectNonce: 0, ReconnectCount: -1 },
      },
    });
    wsPlatform = { emulator, running: await emulator.listen() };
    wsGateway = await startGateway(
      wsPlatform,
      {
        FEISHU_TRANSPORT: 'websocket',
        FEISHU_APP_ID: wsApp.appId,
        FEISHU_APP_SECRET: wsApp.appSecret,
        FEISHU_ENCRYPT_KEY: '',
        FEISHU_VERIFICATION_TOKEN: '',
        APPROVER_OPEN_IDS: STAFF,
      },
      tempDatabaseUrl(),
    );
    await until('the long connection', () => emulator.longConnection.liveCount(wsApp.appId) > 0);
    emulator.console.configure({ gatewayUrl: LONG_CONNECTION, operators: [STAFF] });
    wsChromium = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await wsChromium?.close();
    await wsGateway?.stop();
    await wsPlatform?.running.close();
  });

  it('delivers and approves down the WebSocket', async () => {
    const page = await wsChromium.context.newPage();
    await page.goto(`${wsPlatform.running.url}/console/`);
    await page.getByTestId('live').filter({ hasText: 'live' }).waitFor();
    expect(await page.locator('#gateway-url').inputValue()).toBe(LONG_CONNECTION);
    const examId = `console-ws-${Date.now()}`;
    await page.locator('input[name=exam_id]').fill(examId);
    await page.locator('input[name=candidate_name]').fill('Grace Hopper');
    await page.getByTestId('deliver-exam').click();
    const posted = await until('the card', () => cardsFor(wsPlatform.emulator, examId)[0]);
    const card = page.locator(`[data-message-id="${posted.messageId}"]`);
    await card.getByText('Grace Hopper').waitFor();
    await page.locator('button[data-locale=en_us]').click();
    await approveInPage(page, wsPlatform.emulator, posted.messageId);
    await explained(
      wsGateway,
      card
        .getByTestId('card-title')
        .filter({ hasText: /arranged/i })
        .waitFor({ timeout: 20_000 }),
    );
    await page.locator(`[data-testid=call][data-path$="/eco_exams/${examId}/login_info"]`).waitFor();
  }, 90_000);
});

/**
 * Clicks Approve on a card in the page until the gateway takes it: a card the gateway has posted but not yet
 * recorded answers "click again in a moment", as a staff member would be told. Each click's answer is read
 * from the emulator (a new toast on the message), so an earlier answer still on screen is never mistaken for it.
 */
/** A wait that failed says what the gateway was doing: its last log lines (it logs no secret). */
async function explained<T>(gateway: GatewayProcess, wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (error) {
    const lines = gateway.logs.slice(-40).map((l) => JSON.stringify(l));
    throw new Error(`${(error as Error).message}\nthe gateway's last log lines:\n${lines.join('\n')}`);
  }
}

async function approveInPage(page: Page, emulator: Platform['emulator'], messageId: string) {
  const message = emulator.state.messages.get(messageId);
  if (!message) throw new Error(`no message ${messageId}`);
  for (let attempt = 0; attempt < 100; attempt++) {
    const before = message.toasts.length;
    await page
      .locator(`[data-message-id="${messageId}"]`)
      .getByRole('button', { name: /approve/i })
      .click();
    const toast = await until("the click's answer", () => message.toasts[before]);
    // The toast is bilingual (Chinese first): its English text says so.
    if (!JSON.stringify(toast).includes('click again')) return;
    await page.waitForTimeout(50);
  }
  throw new Error('the gateway kept asking to click again');
}

/** The languages a card carries: both when it has i18n texts, otherwise the one it is written in. */
function languagesOf(content: string): Array<'zh_cn' | 'en_us'> {
  const card = JSON.parse(content) as { config?: { locales?: string[] } };
  const bilingual = (card.config?.locales?.length ?? 0) > 1 || content.includes('"i18n_content"');
  return bilingual ? ['zh_cn', 'en_us'] : ['en_us'];
}

async function screenshot(page: Page, locale: 'zh_cn' | 'en_us', stage: string) {
  await page.locator(`button[data-locale=${locale}]`).click();
  await page.screenshot({ path: join(ARTIFACTS, `console-${stage}-${locale}.png`), fullPage: true });
}

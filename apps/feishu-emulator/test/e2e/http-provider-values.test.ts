import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  logsWritten,
  type Platform,
  providersFile,
  startGateway,
  startPlatform,
  until,
} from './harness.js';

/**
 * An account custom field is typed by the customer, so a low-code provider must treat it as data: the
 * values below once turned `{{account.fields.org_code}}/sittings` into another endpoint, an injected query,
 * or a request (with the vendor's API key) to another host.
 */
type Seen = { method?: string; url?: string; auth?: string; org?: string };
function recordingServer(seen: Seen[]): Server {
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({
        method: req.method,
        url: req.url,
        auth: req.headers.authorization,
        org: req.headers['x-org'] as string | undefined,
      });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ link: `https://vendor.example/take/${seen.length}` }));
    });
  });
}
const vendorSeen: Seen[] = [];
const vendor = recordingServer(vendorSeen);
/** Another service on this host, which must never see the vendor's API key. */
const elsewhereSeen: Seen[] = [];
const elsewhere = recordingServer(elsewhereSeen);
const listen = async (server: Server) => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
};

let platform: Platform;
let gateway: GatewayProcess;
let elsewherePort: number;
beforeAll(async () => {
  const vendorPort = await listen(vendor);
  elsewherePort = await listen(elsewhere);
  const file = providersFile(
    `defaultProvider: vendor
providers:
  - id: vendor
    type: http
    options:
      baseUrl: http://127.0.0.1:${vendorPort}/api
      headers:
        authorization: "Bearer {{secrets.VENDOR_TOKEN}}"
      accountFields:
        - { key: org_code, name: { en_us: Organization code }, required: true }
      createExam:
        path: "{{account.fields.org_code}}/sittings"
        headers: { x-org: "{{account.fields.org_code}}" }
        body: { ref: "{{exam.id}}" }
        response: { examUrl: $.link }
`,
  );
  platform = await startPlatform();
  gateway = await startGateway(platform, { PROVIDERS_FILE: file, VENDOR_TOKEN: 'vendor-api-key-0123456789' });
});
afterAll(async () => {
  await gateway.stop();
  await platform.running.close();
  vendor.close();
  elsewhere.close();
});

/** Binds an account with this org code, schedules its exam, approves it; resolves with its login_info. */
async function arrangeFor(examId: string, orgCode: string) {
  const accountId = `acc-${examId}`;
  await platform.emulator.pushAccount(`${gateway.url}/webhook/event`, {
    scope: 2,
    account_id: accountId,
    custom_field_list: [{ key: 'org_code', value: orgCode }],
  });
  await platform.emulator.pushExam(`${gateway.url}/webhook/event`, {
    ...examPayload(examId),
    account_id: accountId,
  });
  await until('the card', () => cardsFor(platform.emulator, examId)[0]);
  await clickFor(platform, gateway, examId, 'ou_staff', 'approve');
  const [info] = await until(
    'login_info',
    () => loginInfoFor(platform.emulator, examId).length > 0 && loginInfoFor(platform.emulator, examId),
  );
  return info;
}

describe('a low-code provider fills its URL with values as data', () => {
  it('each hostile org code stays one path segment of the vendor’s API, and nothing goes elsewhere', async () => {
    const cases = [
      [
        'e2e-lc-traverse',
        'ORG1/../../../admin/wipe-all#',
        '/api/ORG1%2F..%2F..%2F..%2Fadmin%2Fwipe-all%23/sittings',
      ],
      ['e2e-lc-query', 'ORG1?admin=1&x=', '/api/ORG1%3Fadmin%3D1%26x%3D/sittings'],
      ['e2e-lc-host', `\\\\127.0.0.1:${elsewherePort}`, `/api/%5C%5C127.0.0.1%3A${elsewherePort}/sittings`],
    ] as const;
    for (const [examId, orgCode, expectedPath] of cases) {
      const info = await arrangeFor(examId, orgCode);
      expect(info?.result, examId).toBe(0);
      expect(vendorSeen.at(-1)).toEqual({
        method: 'POST',
        url: expectedPath,
        auth: 'Bearer vendor-api-key-0123456789',
        org: orgCode,
      });
    }
    expect(vendorSeen.map((s) => s.url)).not.toContainEqual(expect.stringContaining('/admin'));
    expect(elsewhereSeen).toEqual([]);
  });

  it('a value a header cannot carry fails the exam at once, for good, sent nowhere and logged without the value', async () => {
    const before = vendorSeen.length;
    const info = await arrangeFor('e2e-lc-crlf', 'ORG1\r\nx-admin: yes');
    expect(info?.result).not.toBe(0);
    expect(info?.msg).toMatch(/^Arrangement failed: .*the header x-org holds a line break/);
    expect(vendorSeen).toHaveLength(before);
    expect(JSON.stringify(await logsWritten(gateway))).not.toContain('x-admin: yes');
  });
});

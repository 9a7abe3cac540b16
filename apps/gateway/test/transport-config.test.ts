import { describe, expect, it } from 'vitest';
import { configWarnings, loadConfig } from '../src/config.js';

const selfBuilt = {
  FEISHU_APP_ID: 'cli_a1b2c3d4e5f60718',
  FEISHU_APP_SECRET: 's',
  APPROVAL_CHAT_ID: 'oc_1',
};
const errorsOf = (env: Record<string, string>) => {
  const result = loadConfig(env);
  return result.ok ? [] : result.errors;
};

describe('FEISHU_TRANSPORT', () => {
  it('defaults to webhook, which needs a token or key', () => {
    const result = loadConfig({ ...selfBuilt, FEISHU_VERIFICATION_TOKEN: 't' });
    expect(result.ok && result.config.transport).toBe('webhook');
    expect(errorsOf(selfBuilt).join('\n')).toMatch(/FEISHU_ENCRYPT_KEY/);
  });

  it('websocket needs neither token nor key (the connection is opened with the app secret), and no key warning', () => {
    const result = loadConfig({ ...selfBuilt, FEISHU_TRANSPORT: 'websocket' });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.config.transport).toBe('websocket');
    expect(result.config.longConnection).toEqual({
      livenessMs: 180_000,
      readyGraceMs: 30_000,
      reconnectMaxMs: 60_000,
    });
    expect(configWarnings(result.config).join('\n')).not.toMatch(/FEISHU_ENCRYPT_KEY/);
  });

  it('websocket is refused for a marketplace app, with a line that says why', () => {
    const marketplace = { FEISHU_APP_TYPE: 'marketplace', FEISHU_STAFF_TENANT_KEY: 'vendor_tenant' };
    const errors = errorsOf({ ...selfBuilt, FEISHU_TRANSPORT: 'websocket', ...marketplace });
    expect(errors).toEqual([
      expect.stringMatching(/not available to marketplace apps.*FEISHU_TRANSPORT=webhook/),
    ]);
    expect(
      errorsOf({
        ...selfBuilt,
        FEISHU_TRANSPORT: 'webhook',
        ...marketplace,
        FEISHU_ENCRYPT_KEY: 'k',
      }),
    ).toEqual([]);
  });

  it('websocket needs an app id the SDK accepts (cli_ and 16 hex digits); other values are refused', () => {
    expect(
      errorsOf({ ...selfBuilt, FEISHU_APP_ID: 'cli_demo0000000001', FEISHU_TRANSPORT: 'websocket' }),
    ).toEqual([expect.stringMatching(/FEISHU_APP_ID must be cli_ and 16 hex digits/)]);
    expect(errorsOf({ ...selfBuilt, FEISHU_TRANSPORT: 'carrier-pigeon' }).join('\n')).toMatch(
      /FEISHU_TRANSPORT must be webhook .* or websocket/,
    );
  });
});

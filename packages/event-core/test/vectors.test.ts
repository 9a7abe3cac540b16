import { EventEmitter } from 'node:events';
import * as lark from '@larksuiteoapi/node-sdk';
import { describe, expect, it } from 'vitest';
import { computeSignature, decryptPayload, encryptPayload, parse, signatureHeaders } from '../src/index.js';

/**
 * Published vectors, copied byte for byte:
 * - Feishu's own decryption example (事件订阅 › 配置请求地址 › 解密示例): key "test key", plaintext "hello world".
 * - larksuite/oapi-sdk-go event/dispatcher/dispatcher_test.go: TestDecryptEvent (key "1212121212") and
 *   TestVerifySignOk (timestamp "timestamp", nonce "nonce", key "1212121212", the plain body below).
 *   That test asserts no digest; the expected one was computed independently with coreutils:
 *   printf '%s' "timestampnonce1212121212$BODY" | sha256sum
 */
const feishuDoc = {
  key: 'test key',
  encrypt: 'P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=',
  plaintext: 'hello world',
};

const goSdk = {
  key: '1212121212',
  encrypt:
    'bZ3L7yh6m3Fkuffl4g+3uGjIHnhOm5fVZbKVuyT8t7tcd5ABMYm8l28/X900ZL3knZ7n+sCREu/H2WnIzft0amC7+xWqNH8o25IU63N4BnZWfHh+4hyG76QPd19vkw2bPJCx9aqxK8Nz+xqFNbk0RdgyWhmgd30jSxHtcQXAllkI7FMpGpOCteJad3bLXPDBQIV/xkCtKICCS7Z63gakpxZCLaRZ3qCXP1fapHh+LBIupxenrU6ysc7I3nHmjmKie41IiWwS5puG4zQHhVbq6KWLcgWm/3NBZOPQy53ucMu75SXA55I7jarVLZXWUcqBGrcgE3vouWbtwgZuzmoTQl0GSh5VYSVvpW992BuGxUWj0XjPYdICJm6Cr7xouNXwMcdb7N8caVdkdSZeEnswG19qSyDoQhklwzNGW0yiaayulBqJNjfge/G5V3401c2XaIuAeEIo+QQ4RSNpRGfnHkbu/j55FGQAGWjpuBNaIwZbaUoVP3NkGP+vM5rpEDe3sL2GN+Xsd+g9yBs7FqdMV8mXTGgLjCqjrPrke5/km76Q3Pe6KPs2YexMRG4MkSx3xUTzZnNn7zIzShPcjeSwBd2pxk6ht5N+fzueZdxl6Oo=',
  body: '{"schema":"2.0","header":{"event_id":"f7984f25108f8137722bb63cee927e66","event_type":"contact.user.created_v3","app_id":"cli_xxxxxxxx","tenant_key":"xxxxxxx","create_time":"1603977298000000","token":"v"},"event":{"object":{"open_id":"ou_7dab8a3d3cdcc9da365777c7ad535d62","union_id":"on_576833b917gda3d939b9a3c2d53e72c8","user_id":"e33ggbyz","name":"张三","employee_no":"employee_no"}},"challenge":"1212","type":"url_verification"}',
  signature: '4dca085198cb3216defc5b65b0668c1328b038a22dbadf2bc6c4fdc3d32bbc45',
  /** NewEventDispatcher("v", "1212121212") in the same file: the verification token, then the encrypt key. */
  verificationToken: 'v',
};

/**
 * larksuite/node-sdk adaptor/services/__tests__/challenge.ts, "generate right with encrypt challenge": the
 * ciphertext decrypts to `{"challenge":"5634b122-…","token":"iRdCP2…","type":"url_verification"}`.
 */
const nodeSdk = {
  key: 'mazhe.nerd',
  encrypt:
    'tT1xP+ovuc0T3b/rnZX3ax76exqAn0ANQ6/U45GcciC0mgNBc8JtvqOJGNAPMKpgRs2dVU1NYk9VDeqS8T4SYtU0hzNU54aS84WnxvZ3VFfDcy/RyABlNqlUiGyLDzFI0yxdCMT4KR/YEQXlt6nZi50KwRlZ+A75r645KesZuLMljezYyY8VeeXEVjPw35+e',
  challenge: '5634b122-c042-4634-bc7f-b07a3c3e77ad',
  verificationToken: 'iRdCP2WwXNBXRM3mGLqhrgch3cn0gbT6',
};

/** What the node SDK's HTTP adapter (adaptDefault, autoChallenge on) answers to a body. */
async function sdkAnswer(rawBody: Buffer, encryptKey: string): Promise<unknown> {
  const dispatcher = new lark.EventDispatcher({
    encryptKey,
    logger: { error() {}, warn() {}, info() {}, debug() {}, trace() {} },
  });
  const req = Object.assign(new EventEmitter(), { url: '/webhook/event', headers: {} });
  let answer = '';
  const done = lark.adaptDefault('/webhook/event', dispatcher, { autoChallenge: true })(
    req as never,
    {
      end: (text: string) => {
        answer = text;
      },
    } as never,
  );
  req.emit('data', rawBody.toString('utf8'));
  req.emit('end');
  await done;
  return JSON.parse(answer);
}

describe('published vectors', () => {
  it("decrypts Feishu's documented example", () => {
    expect(decryptPayload(feishuDoc.encrypt, feishuDoc.key)).toEqual({
      ok: true,
      plaintext: feishuDoc.plaintext,
    });
    expect(decryptPayload(feishuDoc.encrypt, 'test key ')).toMatchObject({ ok: false });
  });

  it('decrypts the Go SDK vector to the body its signature test signs', () => {
    expect(decryptPayload(goSdk.encrypt, goSdk.key)).toEqual({ ok: true, plaintext: goSdk.body });
  });

  it('computes the Go SDK fixture signature over the raw body', () => {
    const digest = computeSignature('timestamp', 'nonce', goSdk.key, Buffer.from(goSdk.body, 'utf8'));
    expect(digest.toString('hex')).toBe(goSdk.signature);
  });

  it('verifies a request carrying the Go SDK vector end to end (with a numeric timestamp)', () => {
    const rawBody = Buffer.from(JSON.stringify({ encrypt: goSdk.encrypt }));
    const headers = signatureHeaders(rawBody, goSdk.key, { timestamp: 1_700_000_000, nonce: 'nonce' });
    // The vector is a url_verification (with the token in header, as the Go fixture has it): no
    // verification token configured here, so it is answered as a challenge.
    expect(parse({ headers, rawBody }, { encryptKey: goSdk.key, now: () => 1_700_000_000_000 })).toEqual({
      ok: true,
      kind: 'challenge',
      challenge: '1212',
    });
  });
});

describe('url_verification vectors, encrypted, with a verification token configured', () => {
  const goRequest = () => ({ headers: {}, rawBody: Buffer.from(JSON.stringify({ encrypt: goSdk.encrypt })) });

  it('the Go SDK vector (a schema 2.0 envelope, the token in header.token) is answered, as both SDKs answer it', async () => {
    const secrets = { encryptKey: goSdk.key, verificationToken: goSdk.verificationToken };
    // Unsigned, as Feishu sends a challenge.
    expect(parse(goRequest(), secrets)).toEqual({ ok: true, kind: 'challenge', challenge: '1212' });
    expect(await sdkAnswer(goRequest().rawBody, goSdk.key)).toEqual({ challenge: '1212' });
  });

  it('the Go SDK vector is still refused under another verification token (the header token is checked)', () => {
    expect(parse(goRequest(), { encryptKey: goSdk.key, verificationToken: 'w' })).toMatchObject({
      ok: false,
      error: { code: 'bad_token' },
    });
  });

  it("the node SDK's own encrypted challenge vector (the token at the top level) is answered", async () => {
    const request = { headers: {}, rawBody: Buffer.from(JSON.stringify({ encrypt: nodeSdk.encrypt })) };
    const secrets = { encryptKey: nodeSdk.key, verificationToken: nodeSdk.verificationToken };
    expect(parse(request, secrets)).toEqual({ ok: true, kind: 'challenge', challenge: nodeSdk.challenge });
    expect(await sdkAnswer(request.rawBody, nodeSdk.key)).toEqual({ challenge: nodeSdk.challenge });
    expect(parse(request, { ...secrets, verificationToken: 'other' })).toMatchObject({
      ok: false,
      error: { code: 'bad_token' },
    });
  });
});

describe('interoperability with the official node SDK', () => {
  const samples = [
    'hello world',
    '王二 🎉 👩‍💻',
    JSON.stringify({ a: 'x'.repeat(5000) }),
    '',
    '{"encrypt":"nested"}',
  ];

  it.each(samples)('the SDK AESCipher decrypts what encryptPayload produces (%#)', (plaintext) => {
    const key = 'interop-key-测试';
    expect(new lark.AESCipher(key).decrypt(encryptPayload(plaintext, key))).toBe(plaintext);
  });

  it('decryptPayload agrees with the SDK on the documented vector', () => {
    expect(new lark.AESCipher(feishuDoc.key).decrypt(feishuDoc.encrypt)).toBe(feishuDoc.plaintext);
  });
});

import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Feishu's AES key is the SHA-256 of the configured encrypt key. Derived once per key string. */
const derivedKeys = new Map<string, Buffer>();
function aesKey(encryptKey: string): Buffer {
  let key = derivedKeys.get(encryptKey);
  if (!key) {
    key = createHash('sha256').update(encryptKey, 'utf8').digest();
    if (derivedKeys.size > 16) derivedKeys.clear();
    derivedKeys.set(encryptKey, key);
  }
  return key;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export type DecryptFailure = 'not_base64' | 'truncated' | 'bad_padding' | 'not_utf8';
export type DecryptResult = { ok: true; plaintext: string } | { ok: false; reason: DecryptFailure };

/**
 * AES-256-CBC, key = SHA-256(encryptKey), IV = the first 16 bytes of the base64-decoded payload, PKCS#7.
 * Stricter than the SDK's AESCipher: the base64 alphabet, block alignment and UTF-8 are all checked, where
 * Node's Buffer.from(…, 'base64') would silently skip junk characters.
 */
export function decryptPayload(encrypt: string, encryptKey: string): DecryptResult {
  if (encrypt.length % 4 !== 0 || !BASE64.test(encrypt)) return { ok: false, reason: 'not_base64' };
  const bytes = Buffer.from(encrypt, 'base64');
  if (bytes.length < 32 || bytes.length % 16 !== 0) return { ok: false, reason: 'truncated' };
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-cbc', aesKey(encryptKey), bytes.subarray(0, 16));
    plain = Buffer.concat([decipher.update(bytes.subarray(16)), decipher.final()]);
  } catch {
    return { ok: false, reason: 'bad_padding' };
  }
  try {
    return { ok: true, plaintext: strictUtf8.decode(plain) };
  } catch {
    return { ok: false, reason: 'not_utf8' };
  }
}

/** The inverse of decryptPayload, as Feishu does it: a random IV prepended to the ciphertext. */
export function encryptPayload(plaintext: string, encryptKey: string, iv: Buffer = randomBytes(16)): string {
  const cipher = createCipheriv('aes-256-cbc', aesKey(encryptKey), iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

/**
 * X-Lark-Signature: hex SHA-256 of timestamp + nonce + encryptKey + body, over the body's raw bytes.
 * (The node SDK hashes JSON.stringify of the parsed body instead, so any other whitespace fails there.)
 */
export function computeSignature(
  timestamp: string,
  nonce: string,
  encryptKey: string,
  rawBody: Buffer,
): Buffer {
  return createHash('sha256')
    .update(timestamp + nonce + encryptKey, 'utf8')
    .update(rawBody)
    .digest();
}

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

export function signatureMatches(expected: Buffer, presentedHex: string): boolean {
  if (!HEX_SHA256.test(presentedHex)) return false;
  return timingSafeEqual(expected, Buffer.from(presentedHex, 'hex'));
}

/** Compares two secrets in constant time, whatever their lengths (both are hashed first). */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

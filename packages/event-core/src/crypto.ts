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

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export type DecryptFailure = 'not_base64' | 'truncated' | 'bad_padding' | 'not_utf8';
export type DecryptResult = { ok: true; plaintext: string } | { ok: false; reason: DecryptFailure };

/**
 * AES-256-CBC, key = SHA-256(encryptKey), IV = the first 16 bytes of the base64-decoded payload, PKCS#7.
 * Stricter than the SDK's AESCipher: the base64 alphabet, block alignment and UTF-8 are all checked, where
 * Node's Buffer.from(…, 'base64') would silently skip junk characters.
 */
export function decryptPayload(encrypt: string, encryptKey: string): DecryptResult {
  // Canonical base64 only: decoding skips junk characters silently, so re-encoding must give it back.
  const bytes = Buffer.from(encrypt, 'base64');
  if (encrypt.length % 4 !== 0 || bytes.toString('base64') !== encrypt)
    return { ok: false, reason: 'not_base64' };
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

const secretDigests = new Map<string, Buffer>();

/**
 * Compares a presented value with a configured secret in constant time, whatever their lengths (both are
 * hashed first). The configured secret's digest is computed once.
 */
export function secretsEqual(presented: string, secret: string): boolean {
  let expected = secretDigests.get(secret);
  if (!expected) {
    expected = createHash('sha256').update(secret, 'utf8').digest();
    if (secretDigests.size > 16) secretDigests.clear();
    secretDigests.set(secret, expected);
  }
  return timingSafeEqual(createHash('sha256').update(presented, 'utf8').digest(), expected);
}

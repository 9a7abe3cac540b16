import {
  createCipheriv,
  createDecipheriv,
  createHash,
  type Decipher,
  hash,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/**
 * Per configured encrypt key, derived once: Feishu's AES key (the SHA-256 of the encrypt key) and an
 * AES-256-ECB decipher under it, without padding. CBC decryption is done with that one long-lived
 * decipher (block i of plaintext = D(block i of ciphertext) XOR block i-1, the IV before block 1) instead
 * of a createDecipheriv per push: building a Decipheriv costs more than decrypting a whole push.
 * ECB without padding keeps no state between update() calls when every call is whole blocks, and
 * final() is never called, so the decipher can be shared by every push under the key.
 */
interface KeyMaterial {
  readonly aesKey: Buffer;
  readonly blockDecipher: Decipher;
}
const keyMaterial = new Map<string, KeyMaterial>();
function materialFor(encryptKey: string): KeyMaterial {
  let material = keyMaterial.get(encryptKey);
  if (!material) {
    const aesKey = createHash('sha256').update(encryptKey, 'utf8').digest();
    const blockDecipher = createDecipheriv('aes-256-ecb', aesKey, null);
    blockDecipher.setAutoPadding(false);
    material = { aesKey, blockDecipher };
    if (keyMaterial.size > 16) keyMaterial.clear();
    keyMaterial.set(encryptKey, material);
  }
  return material;
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
  const bytes = canonicalBase64(encrypt);
  if (!bytes) return { ok: false, reason: 'not_base64' };
  return decryptBytes(bytes, encryptKey);
}

/** The bytes `text` encodes, if it is canonical base64; undefined otherwise. */
export function canonicalBase64(text: string): Buffer | undefined {
  // Decoding skips junk characters silently, so re-encoding must give the text back.
  if (text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** decryptPayload after the base64 step: the IV and the ciphertext, as bytes. */
export function decryptBytes(bytes: Buffer, encryptKey: string): DecryptResult {
  if (bytes.length < 32 || bytes.length % 16 !== 0) return { ok: false, reason: 'truncated' };
  const plain = materialFor(encryptKey).blockDecipher.update(bytes.subarray(16));
  if (plain.length !== bytes.length - 16) return { ok: false, reason: 'truncated' };
  xorInPlace(plain, bytes);
  const padding = pkcs7PaddingLength(plain);
  if (padding === 0) return { ok: false, reason: 'bad_padding' };
  try {
    return { ok: true, plaintext: strictUtf8.decode(plain.subarray(0, plain.length - padding)) };
  } catch {
    return { ok: false, reason: 'not_utf8' };
  }
}

/** target[i] ^= source[i] for every byte of target; four bytes at a time where both are aligned. */
function xorInPlace(target: Buffer, source: Buffer): void {
  const n = target.length;
  if (target.byteOffset % 4 === 0 && source.byteOffset % 4 === 0) {
    const t = new Int32Array(target.buffer, target.byteOffset, n >>> 2);
    const s = new Int32Array(source.buffer, source.byteOffset, n >>> 2);
    for (let i = 0; i < t.length; i++) t[i] = (t[i] as number) ^ (s[i] as number);
    return;
  }
  for (let i = 0; i < n; i++) target[i] = (target[i] as number) ^ (source[i] as number);
}

/**
 * The PKCS#7 padding length (1 to 16), or 0 when the padding is invalid. Looks at the last 16 bytes
 * whatever the padding byte says, without branching on them, as OpenSSL does: an unsigned request must
 * learn nothing about the plaintext (see parse: its failures all look the same, and so do their timings).
 */
function pkcs7PaddingLength(plain: Buffer): number {
  const n = plain.length;
  const pad = plain[n - 1] as number;
  // bad != 0 when pad is 0 or above 16.
  let bad = ((pad - 1) | (16 - pad)) >>> 31;
  for (let i = 1; i <= 16; i++) {
    const inPadding = ((i - pad - 1) >>> 31) & 1; // 1 when i <= pad
    const differs = ((((plain[n - i] as number) ^ pad) + 0xff) >>> 8) & 1; // 1 when the byte is not pad
    bad |= inPadding & differs;
  }
  return bad ? 0 : pad;
}

/** The inverse of decryptPayload, as Feishu does it: a random IV prepended to the ciphertext. */
export function encryptPayload(plaintext: string, encryptKey: string, iv: Buffer = randomBytes(16)): string {
  const cipher = createCipheriv('aes-256-cbc', materialFor(encryptKey).aesKey, iv);
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
  return Buffer.from(computeSignatureHex(timestamp, nonce, encryptKey, rawBody), 'hex');
}

const signingScratch = Buffer.allocUnsafe(64 * 1024);

/**
 * computeSignature as lowercase hex. One-shot crypto.hash over one buffer: a Hash object per push costs
 * more than the hashing. The buffer is a scratch one, reused (hash is synchronous), so that a push
 * allocates nothing here; a body too large for it gets a buffer of its own.
 */
export function computeSignatureHex(
  timestamp: string,
  nonce: string,
  encryptKey: string,
  rawBody: Buffer,
): string {
  const prefix = timestamp + nonce + encryptKey;
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  if (prefix.length * 3 + rawBody.length > signingScratch.length) {
    return hash('sha256', Buffer.concat([Buffer.from(prefix, 'utf8'), rawBody]), 'hex');
  }
  const written = signingScratch.write(prefix, 0, 'utf8');
  rawBody.copy(signingScratch, written);
  return hash('sha256', signingScratch.subarray(0, written + rawBody.length), 'hex');
}

const HEX = /^[0-9a-fA-F]+$/;
const expectedScratch = Buffer.alloc(64);
const presentedScratch = Buffer.alloc(64);

/**
 * Constant-time, and case-insensitive as hex is, for a SHA-256 (events) or SHA-1 (old-style card callbacks)
 * hex digest. `expectedHex` is lowercase, as computed here. Both are written as ASCII into two fixed 64-byte
 * buffers, so that the comparison allocates nothing but the views of their first `expectedHex.length` bytes.
 */
export function signatureMatches(expectedHex: string, presentedHex: string): boolean {
  const length = expectedHex.length;
  if (length > expectedScratch.length || presentedHex.length !== length || !HEX.test(presentedHex))
    return false;
  expectedScratch.write(expectedHex, 0, 'latin1');
  presentedScratch.write(presentedHex.toLowerCase(), 0, 'latin1');
  return timingSafeEqual(expectedScratch.subarray(0, length), presentedScratch.subarray(0, length));
}

/**
 * The old-style card callback's X-Lark-Signature (消息卡片回传交互（旧）): hex SHA-1 of timestamp + nonce +
 * verification token + body, over the body's raw bytes (the Go SDK's larkcard.Signature; the node SDK's
 * checkIsCardEventValidated hashes JSON.stringify of the parsed body instead).
 */
export function computeCardV1SignatureHex(
  timestamp: string,
  nonce: string,
  verificationToken: string,
  rawBody: Buffer,
): string {
  return hash(
    'sha1',
    Buffer.concat([Buffer.from(timestamp + nonce + verificationToken, 'utf8'), rawBody]),
    'hex',
  );
}

const secretDigests = new Map<string, Buffer>();
const presentedDigest = Buffer.alloc(64);
const sha256Hex = (text: string): string => hash('sha256', text, 'hex');

/**
 * Compares a presented value with a configured secret in constant time, whatever their lengths (both are
 * hashed first, and the hex digests compared). The configured secret's digest is computed once; the
 * presented one is written into a fixed buffer, so that a comparison allocates nothing.
 */
export function secretsEqual(presented: string, secret: string): boolean {
  let expected = secretDigests.get(secret);
  if (!expected) {
    expected = Buffer.from(sha256Hex(secret), 'latin1');
    if (secretDigests.size > 16) secretDigests.clear();
    secretDigests.set(secret, expected);
  }
  presentedDigest.write(sha256Hex(presented), 0, 'latin1');
  return timingSafeEqual(presentedDigest, expected);
}

import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decryptBytes, decryptPayload } from '../src/crypto.js';

/** What Node's own AES-256-CBC decipher (OpenSSL's PKCS#7 check) makes of the same bytes. */
function reference(bytes: Buffer, encryptKey: string): string | undefined {
  const key = createHash('sha256').update(encryptKey, 'utf8').digest();
  try {
    const decipher = createDecipheriv('aes-256-cbc', key, bytes.subarray(0, 16));
    return Buffer.concat([decipher.update(bytes.subarray(16)), decipher.final()]).toString('latin1');
  } catch {
    return undefined;
  }
}

/** Encrypts raw bytes without padding, so that the test chooses the padding, valid or not. */
function encryptRaw(plain: Buffer, encryptKey: string, iv: Buffer): Buffer {
  const key = createHash('sha256').update(encryptKey, 'utf8').digest();
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  cipher.setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(plain), cipher.final()]);
}

describe('decryptBytes (CBC over one shared ECB decipher) agrees with OpenSSL CBC', () => {
  const key = fc.constantFrom('k1', 'interop-key-测试', 'bench-encrypt-key-0123456789');
  const blocks = fc
    .integer({ min: 1, max: 8 })
    .chain((n) => fc.uint8Array({ minLength: 16 * n, maxLength: 16 * n }));
  const validPadding = fc.integer({ min: 1, max: 16 }).map((n) => new Uint8Array(n).fill(n));
  const lastBytes = fc.oneof(
    validPadding,
    fc
      .tuple(validPadding, fc.nat(15), fc.integer({ min: 0, max: 255 }))
      .map(([p, at, byte]) => p.map((v, i) => (i === at % p.length ? byte : v))),
    fc.uint8Array({ minLength: 0, maxLength: 16 }),
  );

  it('on arbitrary plaintext blocks, with valid and invalid padding, aligned or not', () => {
    fc.assert(
      fc.property(
        key,
        blocks,
        lastBytes,
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.boolean(),
        (k, body, tail, iv, misalign) => {
          // Overwrite the end with bytes near a valid padding, to exercise every branch of the check.
          const plain = Buffer.from(body);
          plain.set(tail, plain.length - tail.length);
          const sealed = encryptRaw(plain, k, Buffer.from(iv));
          const bytes = misalign ? Buffer.concat([Buffer.alloc(1), sealed]).subarray(1) : sealed;
          const ours = decryptBytes(bytes, k);
          const theirs = reference(sealed, k);
          if (theirs === undefined) {
            expect(ours).toEqual({ ok: false, reason: 'bad_padding' });
            return;
          }
          // decryptBytes also insists on UTF-8; compare the bytes whenever it accepted them.
          if (ours.ok) expect(Buffer.from(ours.plaintext, 'utf8').toString('latin1')).toBe(theirs);
          else expect(ours.reason).toBe('not_utf8');
        },
      ),
      { numRuns: 2000, seed: 29 },
    );
  });

  it('on every padding length, and on the padding bytes OpenSSL refuses', () => {
    const k = 'pad-key';
    const iv = Buffer.alloc(16, 7);
    for (let pad = 0; pad <= 17; pad++) {
      const plain = Buffer.alloc(32, 0x61);
      plain.fill(pad, 32 - Math.min(pad, 16));
      plain[31] = pad;
      const sealed = encryptRaw(plain, k, iv);
      const valid = pad >= 1 && pad <= 16;
      expect(reference(sealed, k) !== undefined, `OpenSSL, pad ${pad}`).toBe(valid);
      expect(decryptBytes(sealed, k), `pad ${pad}`).toEqual(
        valid ? { ok: true, plaintext: 'a'.repeat(32 - pad) } : { ok: false, reason: 'bad_padding' },
      );
    }
    // A valid-looking last byte with a wrong byte inside the padding.
    const plain = Buffer.concat([Buffer.from('0123456789abcdef'), Buffer.alloc(16, 4)]);
    plain[plain.length - 3] = 5;
    expect(decryptBytes(encryptRaw(plain, k, iv), k)).toEqual({ ok: false, reason: 'bad_padding' });
  });

  it('decrypts many pushes in a row under one key and under alternating keys (no state carried over)', () => {
    const keys = ['a', 'b', 'a', 'c'];
    for (let i = 0; i < 50; i++) {
      const k = keys[i % keys.length] as string;
      const text = `{"i":${i},"pad":"${'x'.repeat(i)}"}`;
      const key = createHash('sha256').update(k, 'utf8').digest();
      const iv = Buffer.alloc(16, i);
      const cipher = createCipheriv('aes-256-cbc', key, iv);
      const encrypt = Buffer.concat([iv, cipher.update(text, 'utf8'), cipher.final()]).toString('base64');
      expect(decryptPayload(encrypt, k)).toEqual({ ok: true, plaintext: text });
    }
  });
});

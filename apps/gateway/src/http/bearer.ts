import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Does the `Authorization` header carry `Bearer <token>`? Compared in constant time: both sides are hashed
 * first, so neither the token's characters nor its length leak through the time the comparison takes.
 */
export function bearerMatches(authorization: string, token: string): boolean {
  // The scheme is case-insensitive (RFC 9110 §11.1): `bearer …` from a client is the same credential.
  const presented = /^Bearer +(\S+) *$/i.exec(authorization)?.[1] ?? '';
  return timingSafeEqual(digest(presented), digest(token));
}

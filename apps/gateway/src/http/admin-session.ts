// The admin page's session: a cookie holding when it was issued and an HMAC of that under ADMIN_TOKEN, so
// rotating the token ends every session, and any replica checks a cookie without a shared session store. What
// the signature cannot say is that the session was signed out: signing out names it in admin_sign_outs (by a
// digest of its signature), so that a copy of the cookie (a shared machine, a proxy's log, a browser profile)
// stops opening the page at once, not eight hours later.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/index.js';

export const SESSION_COOKIE = 'feishu_exam_admin';
export const SESSION_MS = 8 * 3600_000;

export interface Session {
  readonly issuedAt: number;
  /** The digest of the cookie's signature that admin_sign_outs keys it by. */
  readonly key: string;
}

const sign = (adminToken: string, issuedAt: number) =>
  createHmac('sha256', adminToken).update(`admin-ui-session:${issuedAt}`).digest('base64url');

const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The cookie's value for a session issued at `issuedAt`. */
export const sessionCookie = (adminToken: string, issuedAt: number): string =>
  `${issuedAt}.${sign(adminToken, issuedAt)}`;

/** The session a cookie holds, if this gateway's token signed it less than eight hours ago (not yet asked: signed out). */
export function signedSession(
  cookie: string | undefined,
  adminToken: string,
  now: number,
): Session | undefined {
  const [issued, mac] = cookie?.split('.') ?? [];
  const issuedAt = Number(issued);
  if (!Number.isSafeInteger(issuedAt) || !mac) return undefined;
  if (issuedAt > now || now - issuedAt > SESSION_MS) return undefined;
  if (!sameText(mac, sign(adminToken, issuedAt))) return undefined;
  return { issuedAt, key: createHash('sha256').update(mac).digest('hex') };
}

export const adminSessions = {
  async signedOut(store: Store, session: Session): Promise<boolean> {
    const rows = await store.reads.all('SELECT 1 AS out FROM admin_sign_outs WHERE session = ?', [
      session.key,
    ]);
    return rows.length > 0;
  },

  /** Names the session signed out until it would have expired; forgets the sign-outs past that. */
  async signOut(store: Store, session: Session, now: number): Promise<void> {
    await store.write(async (tx) => {
      await tx.run('DELETE FROM admin_sign_outs WHERE expires_at <= ?', [now]);
      await tx.run('INSERT INTO admin_sign_outs (session, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING', [
        session.key,
        session.issuedAt + SESSION_MS,
      ]);
    });
  },
};

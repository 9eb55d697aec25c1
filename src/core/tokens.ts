import { createHmac, timingSafeEqual } from 'node:crypto';

// Bearer tokens: "v1.<userId>.<expiresAtSeconds>.<hmac>". Minted in-process when seeding and by
// POST /api/users; verified by the server with the same secret.
const VERSION = 'v1';

function mac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

export function signUserToken(secret: string, userId: number, ttlSeconds = 24 * 3600): string {
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  const payload = `${VERSION}.${userId}.${exp}`;
  // join makes one flat string; a template literal here leaves a tree of string pieces, ~220 bytes a
  // token instead of ~100, and a million-user sale keeps a token per user for the whole run.
  return [payload, mac(secret, payload)].join('.');
}

/** The user id, or null for a malformed, forged or expired token. */
export function verifyUserToken(secret: string, token: string): number | null {
  const parts = token.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION) return null;
  const [, uid, exp, sig] = parts as [string, string, string, string];
  if (!/^\d{1,15}$/.test(uid) || !/^\d{1,12}$/.test(exp)) return null;
  const expected = Buffer.from(mac(secret, `${VERSION}.${uid}.${exp}`));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  if (Number(exp) * 1000 < Date.now()) return null;
  return Number(uid);
}

// Queue tokens: "q1.<userId>.<scheduleId>.<expiresAtSeconds>.<hmac>", bound to one user and one schedule.
export function signQueueToken(secret: string, userId: number, scheduleId: number, ttlSeconds = 6 * 3600): string {
  const payload = `q1.${userId}.${scheduleId}.${Math.floor(Date.now() / 1000) + ttlSeconds}`;
  return `${payload}.${mac(secret, payload)}`;
}

export function verifyQueueToken(secret: string, token: string): { userId: number; scheduleId: number } | null {
  const parts = token.split('.');
  if (parts.length !== 5 || parts[0] !== 'q1') return null;
  const [, uid, sid, exp, sig] = parts as [string, string, string, string, string];
  if (![uid, sid, exp].every((p) => /^\d{1,15}$/.test(p))) return null;
  const expected = Buffer.from(mac(secret, `q1.${uid}.${sid}.${exp}`));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  if (Number(exp) * 1000 < Date.now()) return null;
  return { userId: Number(uid), scheduleId: Number(sid) };
}

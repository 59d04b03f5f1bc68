import { createHash, randomBytes } from 'node:crypto';
import { hashSecret, newCredential, secretMatches } from './api-keys.js';
import type { SecurityStore, StoreData, StoredUser, StoreOp } from './store.js';

/** A console session as the store keeps it: its secret only as a keyed hash, and what it was opened with. */
export interface StoredSession {
  readonly id: string;
  readonly secretHash: string;
  readonly username: string;
  readonly userId: string;
  /** A fingerprint of the user's password hash at login: a changed password ends the session. */
  readonly credential: string;
  /** The CSRF token that every state-changing request of the session must send. */
  readonly csrf: string;
  readonly created: number;
  readonly lastSeen: number;
}

/** The cookie that carries a session: `<id>.<secret>`. */
export const sessionCookie = 'securenode_session';

/** The header that carries a session's CSRF token. */
export const csrfHeader = 'x-csrf-token';

/** How long a session lives unused, and at most (Kong's session plugin's defaults). */
export interface SessionLimits {
  readonly idleMs: number;
  readonly absoluteMs: number;
}

/** A session's last use is written at most once a minute (each write is a change to the store), and often enough for a short idle timeout. */
export const touchEvery = (limits: SessionLimits): number => Math.min(60_000, limits.idleMs / 4);

const fingerprint = (passwordHash: string): string => createHash('sha256').update(passwordHash).digest('base64url');

/** A new session for a user who has just proved their password; the cookie value is returned once and never stored. */
export function openSession(user: StoredUser, hashKey: Buffer, now = Date.now()): { session: StoredSession; cookie: string } {
  const { id, secret } = newCredential();
  const session: StoredSession = { id, secretHash: hashSecret(hashKey, secret), username: user.username, userId: user.id ?? '', credential: fingerprint(user.passwordHash), csrf: randomBytes(24).toString('base64url'), created: now, lastSeen: now };
  return { session, cookie: `${id}.${secret}` };
}

/** Whether a session's time is up: unused for the idle timeout, or older than the absolute one. */
export function sessionExpired(session: StoredSession, limits: SessionLimits, now = Date.now()): boolean {
  return now - session.lastSeen >= limits.idleMs || now - session.created >= limits.absoluteMs;
}

/**
 * The session and its user for a cookie value, or undefined: an unknown id, a
 * wrong secret (compared in constant time), a session past its time, or a user
 * that is gone, disabled, another of the same name, or whose password changed
 * since the login. Nothing is cached: every request checks the store as it is.
 */
export function sessionFor(store: SecurityStore, hashKey: Buffer, value: string | undefined, limits: SessionLimits, now = Date.now()): { session: StoredSession; user: StoredUser } | undefined {
  const match = /^([A-Za-z0-9_-]{20})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
  const session = match ? store.getSession(match[1]!) : undefined;
  if (!match || !session || !secretMatches(hashKey, match[2]!, session.secretHash) || sessionExpired(session, limits, now)) return undefined;
  const user = store.getUser(session.username);
  if (!user || !user.enabled || (user.id ?? '') !== session.userId || fingerprint(user.passwordHash) !== session.credential) return undefined;
  return { session, user };
}

/** The change that ends every session of a user (a changed password, a disabled or deleted user): none when there are none. */
export function endSessions(data: StoreData, username: string): StoreOp[] {
  const ids = Object.values(data.sessions ?? {}).filter((session) => session.username === username).map((session) => session.id);
  return ids.length > 0 ? [{ op: 'deleteSessions', ids }] : [];
}

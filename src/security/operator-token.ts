import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The keystore setting that holds the local operator's signing key (base64, 32 random bytes). */
export const operatorKeySetting = 'security.operator.signing_key';

/** How long a request token is valid: long enough for one request, too short to be worth stealing. */
export const operatorTokenTtlMs = 60_000;

interface Claims {
  readonly v: 1;
  readonly iat: number;
  readonly exp: number;
  readonly nonce: string;
  readonly method: string;
  readonly path: string;
}

/** A new signing key for the keystore. */
export function newOperatorKey(): string {
  return randomBytes(32).toString('base64');
}

const sign = (key: Buffer, payload: string): Buffer => createHmac('sha256', key).update(payload).digest();

/**
 * A single-use request token for one method and path: the companion tools prove
 * that they can read the node's keystore by signing it with the key kept there
 * (SPEC 7). No temporary user is ever written to disk.
 */
export function createOperatorToken(key: Buffer, method: string, path: string, now = Date.now()): string {
  const claims: Claims = { v: 1, iat: now, exp: now + operatorTokenTtlMs, nonce: randomBytes(16).toString('base64url'), method: method.toUpperCase(), path };
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${payload}.${sign(key, payload).toString('base64url')}`;
}

/** Nonces seen, kept until their token expires: each token is accepted once. */
export class NonceLedger {
  readonly #seen = new Map<string, number>();

  /** Record a nonce; false when it was already used. */
  use(nonce: string, expires: number, now: number): boolean {
    for (const [seen, until] of this.#seen) if (until < now) this.#seen.delete(seen);
    if (this.#seen.has(nonce)) return false;
    this.#seen.set(nonce, expires);
    return true;
  }
}

/**
 * Verify a request token for this method and path: the HMAC (compared in
 * constant time), the expiry, and that the nonce was not used before. Gives no
 * reason on failure: a caller learns nothing it could use.
 */
export function verifyOperatorToken(key: Buffer, token: string, method: string, path: string, ledger: NonceLedger, now = Date.now()): boolean {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) return false;
  const expected = sign(key, payload);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  let claims: Claims;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Claims;
  } catch {
    return false;
  }
  if (claims.v !== 1 || claims.method !== method.toUpperCase() || claims.path !== path) return false;
  if (typeof claims.exp !== 'number' || claims.exp < now || claims.iat > now + 5_000 || claims.exp - claims.iat > operatorTokenTtlMs) return false;
  return ledger.use(claims.nonce, claims.exp, now);
}

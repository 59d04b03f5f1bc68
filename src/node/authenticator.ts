import { createHmac, randomBytes } from 'node:crypto';
import type { FileStore, StoredUser } from '../security/file-store.js';
import { verifyPassword } from '../security/password.js';

/** Who a request authenticated as. */
export interface Principal {
  readonly user: StoredUser;
  readonly type: 'realm';
}

/** The credentials of an Authorization: Basic header, or undefined when it is not one. */
export function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Basic authentication against the store's argon2id hashes, with successful
 * checks cached in memory under an HMAC of the credentials (a per-process key),
 * so that a request never pays the slow hash twice and the cache holds no
 * password. Failures are never cached.
 */
export class Authenticator {
  readonly #store: FileStore;
  readonly #ttlMs: number;
  readonly #key = randomBytes(32);
  readonly #cache = new Map<string, { username: string; passwordHash: string; expires: number }>();
  static readonly maxEntries = 10_000;

  readonly #verify: typeof verifyPassword;

  /** `verify` is the slow hash check; tests pass one that counts its calls. */
  constructor(store: FileStore, ttlMs: number, verify: typeof verifyPassword = verifyPassword) {
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#verify = verify;
  }

  /** The principal for an Authorization header, or undefined. */
  async authenticate(header: string | undefined): Promise<Principal | undefined> {
    const credentials = parseBasic(header);
    if (!credentials) return undefined;
    const user = this.#store.getUser(credentials.username);
    if (!user || !user.enabled) return undefined;
    const cacheKey = createHmac('sha256', this.#key).update(credentials.username).update('\0').update(credentials.password).digest('base64');
    const cached = this.#cache.get(cacheKey);
    // A changed password hash invalidates the entry, whatever its age.
    if (cached && cached.expires > Date.now() && cached.passwordHash === user.passwordHash) return { user, type: 'realm' };
    if (!(await this.#verify(user.passwordHash, credentials.password))) return undefined;
    if (this.#cache.size >= Authenticator.maxEntries) this.#cache.clear();
    this.#cache.set(cacheKey, { username: user.username, passwordHash: user.passwordHash, expires: Date.now() + this.#ttlMs });
    return { user, type: 'realm' };
  }
}

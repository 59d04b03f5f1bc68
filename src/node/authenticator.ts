import { createHmac, randomBytes } from 'node:crypto';
import type { StoredApiKey } from '../security/api-keys.js';
import type { SecurityStore, StoredUser } from '../security/store.js';
import { hashPassword, verifyPassword } from '../security/password.js';

/** Who a request authenticated as. */
export interface Principal {
  readonly user: StoredUser;
  /** realm: a password; operator: a local tool that proved it can read the keystore; api_key; service_token; admin_token (a personal token in the admin token header). */
  readonly type: 'realm' | 'operator' | 'api_key' | 'service_token' | 'admin_token';
  /** The admin token's public id, for the audit log. */
  readonly adminTokenId?: string;
  readonly apiKey?: StoredApiKey;
  /** An API key's owner's roles now: the key may do only what they allow too (Elasticsearch's limited-by). */
  readonly limitedBy?: readonly string[];
  readonly tokenName?: string;
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

let dummy: Promise<string> | undefined;
/** A real argon2id hash of a random password, made once: what an unknown user's password is checked against. */
function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('base64'));
  return dummy;
}

/**
 * Basic authentication against the store's argon2id hashes, with successful
 * checks cached in memory under an HMAC of the credentials (a per-process key),
 * so that a request never pays the slow hash twice and the cache holds no
 * password. Failures are never cached.
 */
export class Authenticator {
  readonly #store: SecurityStore;
  readonly #ttlMs: number;
  readonly #key = randomBytes(32);
  readonly #cache = new Map<string, { username: string; passwordHash: string; expires: number }>();
  static readonly maxEntries = 10_000;

  readonly #verify: typeof verifyPassword;

  /** `verify` is the slow hash check; tests pass one that counts its calls. */
  constructor(store: SecurityStore, ttlMs: number, verify: typeof verifyPassword = verifyPassword) {
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#verify = verify;
  }

  /**
   * The principal for a cached Authorization header, synchronously: the hot path
   * of every request after the first. The key is an HMAC of the whole header, so
   * a hit costs one HMAC and two map lookups, and the cache holds no password.
   */
  authenticateCached(header: string | undefined): Principal | undefined {
    if (header === undefined) return undefined;
    const cached = this.#cache.get(this.#cacheKey(header));
    if (!cached || cached.expires <= Date.now()) return undefined;
    const user = this.#store.getUser(cached.username);
    // A changed password hash, or a disabled user, invalidates the entry at once.
    return user && user.enabled && user.passwordHash === cached.passwordHash ? { user, type: 'realm' } : undefined;
  }

  /** The principal for an Authorization header, or undefined; pays the slow hash only on a cache miss. */
  async authenticate(header: string | undefined): Promise<Principal | undefined> {
    return this.authenticateCached(header) ?? this.verifyAndCache(header);
  }

  /** After a cache miss: check the password with the slow hash, and cache a success. */
  async verifyAndCache(header: string | undefined): Promise<Principal | undefined> {
    const credentials = parseBasic(header);
    if (!credentials) return undefined;
    const user = this.#store.getUser(credentials.username);
    // An unknown or disabled user, or one without a password yet, costs the same hash as a known one, so that a refusal's timing names no user.
    if (!user || !user.enabled || user.passwordHash === '') {
      await this.#verify(await dummyHash(), credentials.password);
      return undefined;
    }
    if (!(await this.#verify(user.passwordHash, credentials.password))) return undefined;
    if (this.#cache.size >= Authenticator.maxEntries) this.#cache.clear();
    this.#cache.set(this.#cacheKey(header!), { username: user.username, passwordHash: user.passwordHash, expires: Date.now() + this.#ttlMs });
    return { user, type: 'realm' };
  }

  #cacheKey(header: string): string {
    return createHmac('sha256', this.#key).update(header).digest('base64');
  }
}

import { createHmac, randomBytes } from 'node:crypto';
import type { StoredApiKey } from '../security/api-keys.js';
import type { SecurityStore, StoredUser } from '../security/store.js';
import { hashPassword, verifyPassword } from '../security/password.js';

/** Who a request authenticated as. */
export interface Principal {
  readonly user: StoredUser;
  /** realm: a password; operator: a local tool that proved it can read the keystore; api_key; service_token; admin_token (a personal token in the admin token header); session (the console's cookie). */
  readonly type: 'realm' | 'operator' | 'api_key' | 'service_token' | 'admin_token' | 'session';
  /** The console session's id (session), for logout and the audit log. */
  readonly sessionId?: string;
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
  /** In order of last use (a Map keeps insertion order: a hit is moved to the end), so the least recently used is first. */
  readonly #cache = new Map<string, { username: string; passwordHash: string; expires: number; bytes: number }>();
  #bytes = 0;
  readonly #maxBytes: number;
  /** The last login checked on each connection (keep-alive), valid while the header is the same bytes and the store unchanged. */
  readonly #lastOnConnection = new WeakMap<object, { header: string; generation: number; expires: number; principal: Principal }>();
  /** 16 MiB: about 50,000 logins of typical names. */
  static readonly defaultMaxBytes = 16 * 1024 * 1024;

  readonly #verify: typeof verifyPassword;

  /** `verify` is the slow hash check; tests pass one that counts its calls. */
  constructor(store: SecurityStore, ttlMs: number, verify: typeof verifyPassword = verifyPassword, maxBytes = Authenticator.defaultMaxBytes) {
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#verify = verify;
    this.#maxBytes = maxBytes;
  }

  /** How many logins are cached, and their estimated bytes. */
  get cacheSize(): { entries: number; bytes: number } {
    return { entries: this.#cache.size, bytes: this.#bytes };
  }

  #forget(key: string): void {
    const entry = this.#cache.get(key);
    if (!entry) return;
    this.#cache.delete(key);
    this.#bytes -= entry.bytes;
  }

  /**
   * The principal for a cached Authorization header, synchronously: the hot path
   * of every request after the first. The key is an HMAC of the whole header, so
   * a hit costs one HMAC and two map lookups, and the cache holds no password.
   */
  authenticateCached(header: string | undefined, connection?: object): Principal | undefined {
    if (header === undefined) return undefined;
    // The same connection sending the same header again, the store unchanged since: the answer is the one before, without the keyed hash.
    const last = connection && this.#lastOnConnection.get(connection);
    if (last && last.header === header && last.generation === this.#store.generation && last.expires > Date.now()) return last.principal;
    const key = this.#cacheKey(header);
    const cached = this.#cache.get(key);
    if (!cached) return undefined;
    if (cached.expires <= Date.now()) {
      this.#forget(key);
      return undefined;
    }
    // Used now: to the end of the order, last to be evicted.
    this.#cache.delete(key);
    this.#cache.set(key, cached);
    const user = this.#store.getUser(cached.username);
    // A changed password hash, or a disabled user, invalidates the entry at once.
    if (!user || !user.enabled || user.passwordHash !== cached.passwordHash) return undefined;
    const principal: Principal = { user, type: 'realm' };
    if (connection) this.#lastOnConnection.set(connection, { header, generation: this.#store.generation, expires: cached.expires, principal });
    return principal;
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
    const key = this.#cacheKey(header!);
    this.#forget(key);
    // The key, the name and the hash as UTF-16, and the entry's own overhead.
    const bytes = 2 * (key.length + user.username.length + user.passwordHash.length) + 96;
    // Full: the least recently used logins make room, one by one, never the whole cache at once.
    while (this.#bytes + bytes > this.#maxBytes && this.#cache.size > 0) this.#forget(this.#cache.keys().next().value!);
    this.#cache.set(key, { username: user.username, passwordHash: user.passwordHash, expires: Date.now() + this.#ttlMs, bytes });
    this.#bytes += bytes;
    return { user, type: 'realm' };
  }

  #cacheKey(header: string): string {
    return createHmac('sha256', this.#key).update(header).digest('base64');
  }
}

import { clientServiceAccount, parseApiKeyHeader, parseServiceToken, secretMatches, type StoredApiKey } from '../security/api-keys.js';
import type { SecurityStore } from '../security/store.js';
import type { Principal } from './authenticator.js';

/**
 * `Authorization: ApiKey base64(id:secret)` and `Authorization: Bearer <service token>`:
 * secrets checked against their keyed hashes in constant time; an invalidated or
 * expired key is refused at once (nothing is cached).
 */
export function authenticateToken(store: SecurityStore, hashKey: Buffer, header: string, now = Date.now()): Principal | undefined {
  if (header.startsWith('ApiKey ')) {
    const credentials = parseApiKeyHeader(header);
    const key = credentials && store.getApiKey(credentials.id);
    if (!credentials || !key || key.invalidated || (key.expires !== undefined && key.expires <= now)) return undefined;
    if (!secretMatches(hashKey, credentials.secret, key.secretHash)) return undefined;
    // An unscoped key has its creator's rights; a creator that is gone or disabled takes them along.
    const creator = store.getUser(key.creator);
    const roles = key.scope === 'all' ? (key.creator === '_local_operator' ? ['superuser'] : creator?.enabled ? creator.roles : []) : [];
    return { user: { username: key.creator, passwordHash: '', roles, enabled: true }, type: 'api_key', apiKey: key };
  }
  if (header.startsWith('Bearer ')) {
    const credentials = parseServiceToken(header);
    const token = credentials && store.getServiceToken(credentials.name);
    if (!credentials || !token || !secretMatches(hashKey, credentials.secret, token.secretHash)) return undefined;
    return { user: { username: clientServiceAccount, passwordHash: '', roles: ['read-only'], enabled: true }, type: 'service_token', tokenName: token.name };
  }
  return undefined;
}

/** The only path an enrollment-scoped key opens. */
export function scopedPath(key: StoredApiKey): string | undefined {
  return key.scope === 'enroll_client' ? '/_security/enroll/client' : key.scope === 'enroll_node' ? '/_security/enroll/node' : undefined;
}


import { clientServiceAccount, parseAdminToken, parseApiKeyHeader, parseServiceToken, secretMatches, type StoredApiKey } from '../security/api-keys.js';
import { ownedBy, type SecurityStore } from '../security/store.js';

/** The creator of keys made by the local operator's tools (and by the first start). */
export const operatorName = '_local_operator';
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
    // An admin token is sent in its own header, never as an API key.
    if (!credentials || !key || key.scope === 'admin_token' || key.invalidated || (key.expires !== undefined && key.expires <= now)) return undefined;
    if (!secretMatches(hashKey, credentials.secret, key.secretHash)) return undefined;
    if (key.creator === operatorName) return { user: { username: key.creator, passwordHash: '', roles: key.scope === 'all' ? ['superuser'] : [], enabled: true }, type: 'api_key', apiKey: key };
    // A key lives only as long as its owner: a deleted owner (a later user of that name is another owner) or a disabled one takes it along.
    const owner = store.getUser(key.creator);
    if (!owner || !owner.enabled || !ownedBy(key, owner)) return undefined;
    // An unscoped key has the roles it was made with, limited by what its owner holds now.
    const roles = key.scope === 'all' ? (key.roles ?? owner.roles) : [];
    return { user: { ...(owner.id ? { id: owner.id } : {}), username: owner.username, passwordHash: '', roles, enabled: true }, type: 'api_key', apiKey: key, limitedBy: owner.roles };
  }
  if (header.startsWith('Bearer ')) {
    const credentials = parseServiceToken(header);
    const token = credentials && store.getServiceToken(credentials.name);
    if (!credentials || !token || !secretMatches(hashKey, credentials.secret, token.secretHash)) return undefined;
    return { user: { username: clientServiceAccount, passwordHash: '', roles: ['read-only'], enabled: true }, type: 'service_token', tokenName: token.name };
  }
  return undefined;
}

/**
 * An admin token from the admin token header: its secret checked against the
 * keyed hash in constant time; it acts as its owner with the owner's roles as
 * they are now, and stops at once when it is revoked or expires, or its owner
 * is disabled or deleted.
 */
export function authenticateAdminToken(store: SecurityStore, hashKey: Buffer, value: string, now = Date.now()): Principal | undefined {
  const credentials = parseAdminToken(value);
  const key = credentials && store.getApiKey(credentials.id);
  if (!credentials || !key || key.scope !== 'admin_token' || key.invalidated || (key.expires !== undefined && key.expires <= now)) return undefined;
  if (!secretMatches(hashKey, credentials.secret, key.secretHash)) return undefined;
  const owner = store.getUser(key.creator);
  if (!owner || !owner.enabled || !ownedBy(key, owner)) return undefined;
  return { user: owner, type: 'admin_token', adminTokenId: key.id };
}

/** The only paths an enrollment-scoped key opens (Kibana enrolls as a client does); undefined for an unscoped key. */
export function scopedPaths(key: StoredApiKey): readonly string[] | undefined {
  return key.scope === 'enroll_client' ? ['/_security/enroll/client', '/_security/enroll/kibana'] : key.scope === 'enroll_node' ? ['/_security/enroll/node'] : undefined;
}


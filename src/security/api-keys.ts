import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The keystore setting holding the key that hashes API key and service token secrets. */
export const tokenHashKeySetting = 'security.authc.token_hash_key';

/**
 * What an API key may do: everything its creator may, or enroll one kind of
 * peer only. An admin token (Kong's RBAC user token) is kept as a key too:
 * everything its owner may do now, sent in the admin token header only.
 */
export type ApiKeyScope = 'all' | 'enroll_client' | 'enroll_node' | 'admin_token';

/** An API key as stored: the secret only as a keyed hash (right for 32 random bytes, unlike a password). */
export interface StoredApiKey {
  readonly id: string;
  readonly name: string;
  readonly secretHash: string;
  /** The owner's name, as Elasticsearch reports it. */
  readonly creator: string;
  /** The owner's id: the key dies with that user, and never passes to a later user of the same name. */
  readonly ownerId?: string;
  /** The owner's roles when the key was made: the key's rights, limited by what the owner holds at each use. */
  readonly roles?: readonly string[];
  readonly scope: ApiKeyScope;
  readonly created: number;
  readonly expires?: number;
  readonly invalidated: boolean;
}

/** A service token of the service/client account, stored as a keyed hash too. */
export interface StoredServiceToken {
  readonly name: string;
  readonly secretHash: string;
  readonly created: number;
}

/** The service account that enrolled clients act as. */
export const clientServiceAccount = 'service/client';

/** A new random id (20 characters) and secret (32 bytes), base64url. */
export function newCredential(): { id: string; secret: string } {
  return { id: randomBytes(15).toString('base64url'), secret: randomBytes(32).toString('base64url') };
}

/** The keyed hash of a secret. */
export function hashSecret(key: Buffer, secret: string): string {
  return createHmac('sha256', key).update(secret).digest('base64');
}

/** Whether a secret matches its stored hash, compared in constant time. */
export function secretMatches(key: Buffer, secret: string, stored: string): boolean {
  const given = Buffer.from(hashSecret(key, secret), 'base64');
  const expected = Buffer.from(stored, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** `ApiKey base64(id:secret)` credentials, or undefined. */
export function parseApiKeyHeader(header: string): { id: string; secret: string } | undefined {
  const match = /^ApiKey +([A-Za-z0-9+/=_-]+) *$/.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) } : undefined;
}

/** An admin token's value: a prefix that secret scanners can find, the public id, a dot, the secret (all base64url). */
export function encodeAdminToken(id: string, secret: string): string {
  return `snadm_${id}.${secret}`;
}

/** An admin token's id and secret, or undefined for anything else. */
export function parseAdminToken(value: string): { id: string; secret: string } | undefined {
  const match = /^snadm_([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,128})$/.exec(value.trim());
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/** A service token's value: base64url("service/client/<name>:<secret>"), sent as `Authorization: Bearer`. */
export function encodeServiceToken(name: string, secret: string): string {
  return Buffer.from(`${clientServiceAccount}/${name}:${secret}`).toString('base64url');
}

/** A Bearer service token's name and secret, or undefined. */
export function parseServiceToken(header: string): { name: string; secret: string } | undefined {
  const match = /^Bearer +([A-Za-z0-9_-]+) *$/.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64url').toString('utf8');
  const prefix = `${clientServiceAccount}/`;
  const colon = decoded.indexOf(':');
  if (!decoded.startsWith(prefix) || colon < 0) return undefined;
  return { name: decoded.slice(prefix.length, colon), secret: decoded.slice(colon + 1) };
}

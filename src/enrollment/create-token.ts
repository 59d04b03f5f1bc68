import { randomBytes } from 'node:crypto';
import { hashSecret, newCredential } from '../security/api-keys.js';
import type { FileStore } from '../security/file-store.js';
import { encodeEnrollmentToken } from './token.js';

/**
 * A client enrollment token made inside the node (the first-start banner): an
 * API key named enrollment_token_API_key_<random>, whose only privilege is to
 * enroll a client, expiring after `ttlMs`. Undefined when no address qualifies.
 */
export async function createClientEnrollmentToken(options: {
  store: FileStore;
  hashKey: Buffer;
  addresses: readonly string[];
  fingerprint: string;
  version: string;
  ttlMs: number;
  creator: string;
}): Promise<string | undefined> {
  if (options.addresses.length === 0) return undefined;
  const { id, secret } = newCredential();
  const now = Date.now();
  await options.store.putApiKeys([
    { id, name: `enrollment_token_API_key_${randomBytes(9).toString('base64url')}`, secretHash: hashSecret(options.hashKey, secret), creator: options.creator, scope: 'enroll_client', created: now, expires: now + options.ttlMs, invalidated: false },
  ]);
  return encodeEnrollmentToken({ ver: options.version, adr: options.addresses, fgr: options.fingerprint, key: `${id}:${secret}` });
}

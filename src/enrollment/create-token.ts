import { randomBytes } from 'node:crypto';
import { hashSecret, newCredential } from '../security/api-keys.js';
import type { SecurityStore } from '../security/store.js';
import { isLoopback } from './addresses.js';
import { encodeEnrollmentToken } from './token.js';

/** What a token made inside the node needs. */
export interface LocalTokenOptions {
  readonly store: SecurityStore;
  readonly hashKey: Buffer;
  readonly addresses: readonly string[];
  readonly fingerprint: string;
  readonly version: string;
  readonly ttlMs: number;
  readonly creator: string;
}

/**
 * An enrollment token made inside the node (the first-start banner): an API key
 * named enrollment_token_API_key_<random>, whose only privilege is to enroll
 * `scope`, expiring after `ttlMs`. Undefined when no address qualifies.
 */
export async function createEnrollmentToken(scope: 'client' | 'node', options: LocalTokenOptions): Promise<string | undefined> {
  if (options.addresses.length === 0) return undefined;
  const { id, secret } = newCredential();
  const now = Date.now();
  await options.store.putApiKeys([
    { id, name: `enrollment_token_API_key_${randomBytes(9).toString('base64url')}`, secretHash: hashSecret(options.hashKey, secret), creator: options.creator, scope: `enroll_${scope}`, created: now, expires: now + options.ttlMs, invalidated: false },
  ]);
  return encodeEnrollmentToken({ ver: options.version, adr: options.addresses, fgr: options.fingerprint, key: `${id}:${secret}` });
}

/** The first-start banner's tokens: a node token only when both HTTP and transport listen beyond loopback, else the steps. */
export interface BannerTokens {
  readonly client?: string;
  readonly node?: { readonly kind: 'token'; readonly token: string } | { readonly kind: 'steps' };
}

/**
 * The tokens of the banner, as Elasticsearch makes them: a node bound to
 * loopback (its transport, by default) could not be reached by another node,
 * so it gets the steps to enroll nodes later instead of a token.
 */
export async function bannerTokens(options: LocalTokenOptions & { readonly httpHost: string; readonly transportHost: string }): Promise<BannerTokens> {
  const client = await createEnrollmentToken('client', options);
  const reachable = !isLoopback(options.httpHost) && !isLoopback(options.transportHost);
  const node = reachable ? await createEnrollmentToken('node', options) : undefined;
  return { ...(client ? { client } : {}), node: node ? { kind: 'token', token: node } : { kind: 'steps' } };
}

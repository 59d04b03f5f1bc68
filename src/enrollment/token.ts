import { SecurenodeError } from '../errors.js';

/** An enrollment token (SPEC 6): the node's version, its HTTP addresses, its CA fingerprint and an API key. */
export interface EnrollmentToken {
  readonly ver?: string;
  readonly adr: readonly string[];
  readonly fgr: string;
  readonly key: string;
}

/** Compact JSON in field order ver, adr, fgr, key; base64 with the URL-safe alphabet and padding. */
export function encodeEnrollmentToken(token: EnrollmentToken): string {
  const json = JSON.stringify({ ...(token.ver === undefined ? {} : { ver: token.ver }), adr: token.adr, fgr: token.fgr, key: token.key });
  return Buffer.from(json, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

const invalid = (): SecurenodeError => new SecurenodeError('ERR_ENROLLMENT_TOKEN', 'invalid enrollment token: copy it again, whole, from the node that created it');

/** Decode a token: either base64 alphabet, `ver` optional, nothing else missing, wrong or extra. */
export function decodeEnrollmentToken(text: string): EnrollmentToken {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid();
  const { ver, adr, fgr, key, ...extra } = value as Record<string, unknown>;
  if (Object.keys(extra).length > 0) throw invalid();
  if (ver !== undefined && typeof ver !== 'string') throw invalid();
  if (!Array.isArray(adr) || adr.length === 0 || !adr.every((address) => typeof address === 'string' && /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(address))) throw invalid();
  if (typeof fgr !== 'string' || !/^[0-9a-f]{64}$/.test(fgr)) throw invalid();
  if (typeof key !== 'string' || !/^[^:\s]+:[^:\s]+$/.test(key)) throw invalid();
  return { ...(ver === undefined ? {} : { ver }), adr, fgr, key };
}

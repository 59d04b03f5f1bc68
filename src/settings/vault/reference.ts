/** A parsed {vault://backend/resource[/key][?option=value...][#version]} reference (SPEC 8). */
export interface VaultReference {
  /** The reference as written, for messages. */
  readonly text: string;
  readonly backend: string;
  readonly resource: string;
  /** A field of a secret that is a flat JSON object. */
  readonly key?: string;
  /** Per-reference overrides of the backend's settings (?prefix=..., ?mount=...). */
  readonly options: Readonly<Record<string, string>>;
  readonly version?: number;
}

/** Why a reference does not parse; the words are Kong's (reference note B1). */
export class VaultReferenceError extends Error {
  override readonly name = 'VaultReferenceError';
}

/** Whether a string is written as a vault reference: it starts `{vault://` and ends `}`. */
export function looksLikeVaultReference(value: string): boolean {
  return value.startsWith('{vault://') && value.endsWith('}');
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new VaultReferenceError('reference url has invalid path');
  }
}

/**
 * Parse a reference as Kong does: one path segment is the resource; several make
 * the last the key and the rest the resource; a trailing `/` makes the whole path
 * the resource; repeated `/` collapse; segments are percent-decoded.
 */
export function parseVaultReference(text: string): VaultReference {
  if (!looksLikeVaultReference(text)) throw new VaultReferenceError('not a vault reference: it must start with {vault:// and end with }');
  const inner = text.slice(1, -1);
  const afterScheme = inner.slice('vault://'.length);
  const hashAt = afterScheme.indexOf('#');
  const beforeHash = hashAt < 0 ? afterScheme : afterScheme.slice(0, hashAt);
  const fragment = hashAt < 0 ? undefined : afterScheme.slice(hashAt + 1);
  const queryAt = beforeHash.indexOf('?');
  const location = queryAt < 0 ? beforeHash : beforeHash.slice(0, queryAt);
  const query = queryAt < 0 ? '' : beforeHash.slice(queryAt + 1);
  const slash = location.indexOf('/');
  const backend = slash < 0 ? location : location.slice(0, slash);
  if (backend === '') throw new VaultReferenceError('reference url is missing host');
  if (slash < 0) throw new VaultReferenceError('reference url is missing path');
  const path = location.slice(slash + 1);
  const segments = path.split('/').filter((segment) => segment !== '');
  if (segments.length === 0) throw new VaultReferenceError('reference url has empty path');
  const decoded = segments.map(decode);
  let resource: string;
  let key: string | undefined;
  if (path.endsWith('/') || decoded.length === 1) {
    resource = decoded.join('/');
  } else {
    key = decoded[decoded.length - 1];
    resource = decoded.slice(0, -1).join('/');
  }
  let version: number | undefined;
  if (fragment !== undefined) {
    if (!/^\d+$/.test(fragment)) throw new VaultReferenceError('reference url has invalid version');
    version = Number(fragment);
  }
  const options: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(query)) options[name] = value;
  return { text, backend, resource, ...(key === undefined ? {} : { key }), options, ...(version === undefined ? {} : { version }) };
}

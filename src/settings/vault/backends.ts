import { readFile, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { awsBackend } from './aws.js';
import { fail, requestTimeout, setting, type VaultBackend } from './backend.js';
import { VaultReferenceError } from './reference.js';

export type { VaultBackend, VaultContext } from './backend.js';

/** env: the variable vault.env.prefix (or ?prefix=) + resource, upper case, '-' as '_'; version 2 reads NAME_PREVIOUS. */
const envBackend: VaultBackend = async (reference, { settings, env }) => {
  const prefix = reference.options.prefix ?? setting(settings, 'vault.env.prefix') ?? '';
  const name = `${prefix}${reference.resource}`.toUpperCase().replace(/-/g, '_') + (reference.version === 2 ? '_PREVIOUS' : '');
  const value = env[name];
  return value ?? fail(`no value found (environment variable ${name} is not set)`);
};

/** Whether `path` is `base` or below it. */
const isInside = (base: string, path: string): boolean => {
  const inside = relative(base, path);
  return inside !== '' && !inside.startsWith('..') && !isAbsolute(inside);
};

/**
 * file: a file under vault.file.path (mounted container secrets), one trailing
 * newline dropped. The real path is checked too: a symlink under the directory
 * that points out of it (at the keystore, say) is refused.
 */
const fileBackend: VaultBackend = async (reference, { settings }) => {
  const base = setting(settings, 'vault.file.path') ?? fail('vault.file.path is not set: set it to the directory that holds the secret files');
  const path = resolve(base, reference.resource);
  const outside = () => fail(`the resource must stay inside vault.file.path (${base})`);
  if (!isInside(resolve(base), path)) outside();
  try {
    const [realBase, realPath] = await Promise.all([realpath(base), realpath(path)]);
    if (!isInside(realBase, realPath)) outside();
    return (await readFile(realPath, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    if (error instanceof VaultReferenceError) throw error;
    return fail(`no value found (cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
};

/**
 * hcv: HashiCorp Vault KV over HTTP with token auth. v1 reads /v1/<mount>/<resource>,
 * v2 reads /v1/<mount>/data/<resource>[?version=N]; the secret is its JSON data.
 */
const hcvBackend: VaultBackend = async (reference, { settings, env, fetch: fetcher = fetch }) => {
  const address = (setting(settings, 'vault.hcv.address') ?? fail('vault.hcv.address is not set')).replace(/\/+$/, '');
  // The token goes only where the operator's settings send it: a reference cannot point it at another address.
  if (reference.options.address !== undefined && reference.options.address.replace(/\/+$/, '') !== address) fail(`the address option may only repeat vault.hcv.address (${address}); the Vault token is sent nowhere else`);
  const token = setting(settings, 'vault.hcv.token') ?? env.VAULT_TOKEN ?? fail('no Vault token: set VAULT_TOKEN or vault.hcv.token');
  const mount = reference.options.mount ?? setting(settings, 'vault.hcv.mount') ?? 'secret';
  const kv = Number(reference.options.kv_version ?? reference.options.kv ?? settings.number('vault.hcv.kv_version') ?? 1);
  if (kv !== 1 && kv !== 2) fail(`kv_version must be 1 or 2, not ${kv}`);
  const namespace = reference.options.namespace ?? setting(settings, 'vault.hcv.namespace');
  const resource = reference.resource.split('/').map(encodeURIComponent).join('/');
  const url = kv === 2 ? `${address}/v1/${mount}/data/${resource}${reference.version ? `?version=${reference.version}` : ''}` : `${address}/v1/${mount}/${resource}`;
  let response: Response;
  try {
    response = await fetcher(url, { headers: { 'X-Vault-Token': token, ...(namespace ? { 'X-Vault-Namespace': namespace } : {}) }, signal: AbortSignal.timeout(requestTimeout(settings)) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return fail(`could not reach Vault at ${address} (${cause?.code ?? cause?.message ?? (error as Error).name})`);
  }
  if (response.status === 404) fail('no value found (not found)');
  if (response.status === 403) fail('Vault refused the token (403 permission denied)');
  if (!response.ok) fail(`Vault answered HTTP ${response.status}`);
  let body: { data?: { data?: unknown } & Record<string, unknown> };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    return fail('Vault answered with something that is not JSON');
  }
  const data = kv === 2 ? body.data?.data : body.data;
  if (typeof data !== 'object' || data === null) fail('Vault answered without secret data');
  return JSON.stringify(data);
};

/** The backends SPEC 8 names, and Kong's aws. */
export const vaultBackends: Readonly<Record<string, VaultBackend>> = { env: envBackend, file: fileBackend, hcv: hcvBackend, aws: awsBackend };

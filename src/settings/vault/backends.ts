import { readFile, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { awsBackend } from './aws.js';
import { azureBackend } from './azure.js';
import { gcpBackend } from './gcp.js';
import { hcvBackend } from './hcv.js';
import { fail, setting, type VaultBackend } from './backend.js';
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

/** The backends SPEC 8 names, and Kong's aws. */
export const vaultBackends: Readonly<Record<string, VaultBackend>> = { env: envBackend, file: fileBackend, hcv: hcvBackend, aws: awsBackend, gcp: gcpBackend, azure: azureBackend };

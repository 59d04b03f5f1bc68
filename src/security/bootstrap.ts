import { readFile } from 'node:fs/promises';
import { SecurenodeError } from '../errors.js';
import type { Keystore } from '../keystore/keystore.js';

/** The keystore setting that holds a bootstrap password. */
export const bootstrapPasswordSetting = 'bootstrap.password';

/** The shortest bootstrap password accepted (SPEC 3.1). */
export const minimumPasswordLength = 12;

/** A password given by the operator for the elastic user, and where it came from (for messages; never the value). */
export interface BootstrapPassword {
  readonly source: string;
  readonly password: string;
}

/**
 * The bootstrap password, from ELASTIC_PASSWORD, else the file ELASTIC_PASSWORD_FILE
 * names (one trailing newline dropped), else the keystore's bootstrap.password.
 */
export async function readBootstrapPassword(env: NodeJS.ProcessEnv, keystore: Keystore | undefined): Promise<BootstrapPassword | undefined> {
  if (env.ELASTIC_PASSWORD !== undefined) return { source: 'ELASTIC_PASSWORD', password: env.ELASTIC_PASSWORD };
  const file = env.ELASTIC_PASSWORD_FILE;
  if (file !== undefined) {
    try {
      return { source: `ELASTIC_PASSWORD_FILE (${file})`, password: (await readFile(file, 'utf8')).replace(/\r?\n$/, '') };
    } catch (error) {
      throw new SecurenodeError('ERR_BOOTSTRAP_PASSWORD', `cannot read ELASTIC_PASSWORD_FILE (${file}): ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const stored = keystore?.getString(bootstrapPasswordSetting);
  return stored === undefined ? undefined : { source: `the keystore setting ${bootstrapPasswordSetting}`, password: stored };
}

/** Refuse a bootstrap password that is too short to be applied (exit 78). */
export function checkBootstrapPassword(bootstrap: BootstrapPassword): void {
  if ([...bootstrap.password].length < minimumPasswordLength) {
    throw new SecurenodeError(
      'ERR_BOOTSTRAP_PASSWORD',
      `the bootstrap password from ${bootstrap.source} is shorter than ${minimumPasswordLength} characters; set a longer one (nothing was stored)`,
    );
  }
}

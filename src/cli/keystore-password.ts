import { SecurenodeError } from '../errors.js';
import { Keystore } from '../keystore/keystore.js';
import { ask, canPrompt, readStdinLine, type CliIo } from './io.js';

/** The variable that gives the keystore password to unattended commands. */
export const keystorePasswordVariable = 'SECURENODE_KEYSTORE_PASSWORD';

/**
 * Open an existing keystore: with no password if it has none, else with
 * SECURENODE_KEYSTORE_PASSWORD, else with a password typed at the terminal.
 */
export async function openKeystore(io: CliIo, path: string): Promise<{ keystore: Keystore; password: string }> {
  const given = io.env[keystorePasswordVariable];
  if (given !== undefined) return { keystore: await Keystore.load(path, given), password: given };
  // One key derivation for the common case (no password), a second only when one is needed.
  try {
    return { keystore: await Keystore.load(path, ''), password: '' };
  } catch (error) {
    if (!(error instanceof SecurenodeError && error.code === 'ERR_KEYSTORE_WRONG_PASSWORD')) throw error;
  }
  if (!canPrompt(io)) {
    throw new SecurenodeError(
      'ERR_KEYSTORE_PASSWORD_REQUIRED',
      `the keystore ${path} is password-protected: set ${keystorePasswordVariable}, or run the command in a terminal to type the password`,
    );
  }
  const password = await ask(io, 'Enter password for the securenode keystore: ', { secret: true });
  return { keystore: await Keystore.load(path, password), password };
}

/**
 * A new keystore password: typed twice at the terminal, or the first line of
 * standard input when it is not a terminal.
 */
export async function readNewPassword(io: CliIo): Promise<string> {
  if (!canPrompt(io)) return readStdinLine(io, 'the new keystore password');
  const first = await ask(io, 'Enter new password for the securenode keystore (empty for no password): ', { secret: true });
  const second = await ask(io, 'Enter same password again: ', { secret: true });
  if (first !== second) throw new SecurenodeError('ERR_PASSWORDS_DIFFER', 'the passwords do not match; nothing was changed');
  return first;
}

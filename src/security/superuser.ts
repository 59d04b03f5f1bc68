import type { FileStore } from './file-store.js';
import { generatePassword, hashPassword } from './password.js';

/** The built-in superuser of a new cluster. */
export const superuserName = 'elastic';

/**
 * Create the elastic superuser with a generated password in an empty store
 * (the first start of a new cluster). Returns the password, to be shown once;
 * only its argon2id hash is stored.
 */
export async function createSuperuser(store: FileStore): Promise<string> {
  const password = generatePassword();
  await store.putUser({ username: superuserName, passwordHash: await hashPassword(password), roles: ['superuser'], enabled: true });
  return password;
}

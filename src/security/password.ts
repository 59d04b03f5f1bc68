import { randomInt } from 'node:crypto';
import { Algorithm, hash, verify } from '@node-rs/argon2';

/** The alphabet of generated passwords (SPEC 3.1, as Elasticsearch): 67 characters. */
export const passwordAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_=+';

/** A new random password: 20 characters, about 121 bits, from a CSPRNG without modulo bias. */
export function generatePassword(length = 20): string {
  let password = '';
  for (let index = 0; index < length; index++) password += passwordAlphabet[randomInt(passwordAlphabet.length)];
  return password;
}

/** OWASP's argon2id parameters: 19 MiB, 2 passes, 1 lane. */
export const argon2Options = { algorithm: Algorithm.Argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

/** Hash a password as an argon2id PHC string; runs off the event loop. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, argon2Options);
}

/** Check a password against a PHC string; false for a malformed hash, never an exception. */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    return false;
  }
}

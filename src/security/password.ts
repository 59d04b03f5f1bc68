import { randomInt } from 'node:crypto';
import type * as Argon2 from '@node-rs/argon2';
import { hashingLimit, Slots } from './hash-slots.js';

/** The alphabet of generated passwords (SPEC 3.1, as Elasticsearch): 67 characters. */
export const passwordAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_=+';

/** A new random password: 20 characters, about 121 bits, from a CSPRNG without modulo bias. */
export function generatePassword(length = 20): string {
  let password = '';
  for (let index = 0; index < length; index++) password += passwordAlphabet[randomInt(passwordAlphabet.length)];
  return password;
}

/** The native argon2 binding, loaded at the first hash or check: a tool that only generates a password, or asks the node to hash it, never loads it. */
let argon2: Promise<typeof Argon2> | undefined;
const loadArgon2 = (): Promise<typeof Argon2> => (argon2 ??= import('@node-rs/argon2'));

/** OWASP's argon2id parameters: 19 MiB, 2 passes, 1 lane (algorithm 2 is Argon2id in @node-rs/argon2's Algorithm). */
export const argon2Options = { algorithm: 2 satisfies Argon2.Algorithm.Argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

/** Every hash and check of this process, a few at once (hashingLimit): logins and password changes queue for a slot rather than each holding 19 MiB. */
export const hashing = new Slots(hashingLimit());

/** Hash a password as an argon2id PHC string; runs off the event loop. */
export async function hashPassword(password: string): Promise<string> {
  const { hash } = await loadArgon2();
  return hashing.run(() => hash(password, argon2Options));
}

/** Check a password against a PHC string; false for a malformed hash, never an exception (a binding that cannot load is one, not a wrong password). */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  const { verify } = await loadArgon2();
  try {
    return await hashing.run(() => verify(phc, password));
  } catch {
    return false;
  }
}

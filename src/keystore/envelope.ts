import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { SecurenodeError } from '../errors.js';

/** The only format this version writes; readers refuse versions they do not know. */
export const keystoreFormat = 'securenode.keystore';
export const keystoreVersion = 1;

/** scrypt parameters stored in the file, so that later versions can raise them. */
export interface KdfParameters {
  readonly name: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** The JSON envelope on disk. */
export interface KeystoreEnvelope {
  readonly format: typeof keystoreFormat;
  readonly version: typeof keystoreVersion;
  readonly kdf: KdfParameters;
  readonly salt: string;
  readonly cipher: 'aes-256-gcm';
  readonly nonce: string;
  readonly tag: string;
  readonly ciphertext: string;
}

/** 2^15 costs about 32 MiB and ~100 ms: slow for a guesser, quick enough for every CLI start. */
export const defaultKdf: KdfParameters = { name: 'scrypt', N: 2 ** 15, r: 8, p: 1 };

/**
 * A keystore without a password (the default) is protected by its file's mode
 * alone, as Elasticsearch's obfuscated keystore is. A derivation's cost slows a
 * guesser of a password; the empty password is anyone's first guess at any
 * cost, so a costly derivation here buys nothing and costs every start and
 * every tool its time (about 70 ms at 2^14 on a small machine) and memory
 * (16 MiB). It gets the least the format takes: 2^10, 1 MiB, a few
 * milliseconds. A password gets `defaultKdf`.
 */
export const emptyPasswordKdf: KdfParameters = { name: 'scrypt', N: 2 ** 10, r: 8, p: 1 };

/** The parameters a new derivation uses for this password. */
export const kdfFor = (password: string): KdfParameters => (password === '' ? emptyPasswordKdf : defaultKdf);

function deriveKey(password: string, salt: Buffer, kdf: KdfParameters): Promise<Buffer> {
  const options: ScryptOptions = { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, 32, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** The header fields are authenticated too, so that no parameter can be changed unseen. */
function associatedData(envelope: Pick<KeystoreEnvelope, 'format' | 'version' | 'kdf' | 'salt' | 'cipher'>): Buffer {
  const { format, version, kdf, salt, cipher } = envelope;
  return Buffer.from(JSON.stringify({ format, version, kdf: { name: kdf.name, N: kdf.N, r: kdf.r, p: kdf.p }, salt, cipher }));
}

/**
 * A key derived from a password, with its salt and parameters: kept by an open
 * keystore so that saving it again under the same password costs no second
 * derivation (scrypt's time and 32 MiB). A fresh nonce per seal keeps
 * AES-GCM safe under one key.
 */
export interface DerivedKey {
  readonly salt: Buffer;
  readonly kdf: KdfParameters;
  readonly key: Buffer;
  /** SHA-256 of the password, to tell in constant time whether a later save uses the same one. */
  readonly check: Buffer;
}

const passwordCheck = (password: string): Buffer => createHash('sha256').update(password.normalize('NFC')).digest();

/** Whether `derived` was made from `password` with today's parameters (older, weaker ones are derived again on a save). */
export function derivedFor(derived: DerivedKey | undefined, password: string): derived is DerivedKey {
  const wanted = kdfFor(password);
  if (!derived || derived.kdf.N !== wanted.N || derived.kdf.r !== wanted.r || derived.kdf.p !== wanted.p) return false;
  return timingSafeEqual(derived.check, passwordCheck(password));
}

/** Derive a key from a password with a fresh salt. */
export async function deriveNew(password: string, kdf: KdfParameters = kdfFor(password)): Promise<DerivedKey> {
  const salt = randomBytes(16);
  return { salt, kdf, key: await deriveKey(password, salt, kdf), check: passwordCheck(password) };
}

/** Encrypt a plaintext under a password into a new envelope (fresh salt and nonce every time). */
export async function sealEnvelope(plaintext: Buffer, password: string, kdf: KdfParameters = kdfFor(password)): Promise<KeystoreEnvelope> {
  return sealWith(plaintext, await deriveNew(password, kdf));
}

/** Encrypt a plaintext under a derived key into a new envelope (a fresh nonce every time). */
export function sealWith(plaintext: Buffer, derived: DerivedKey): KeystoreEnvelope {
  const { salt, key, kdf } = derived;
  const nonce = randomBytes(12);
  const header = { format: keystoreFormat, version: keystoreVersion, kdf: { name: kdf.name, N: kdf.N, r: kdf.r, p: kdf.p }, salt: salt.toString('base64'), cipher: 'aes-256-gcm' } as const;
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(associatedData(header));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ...header, nonce: nonce.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ciphertext: ciphertext.toString('base64') };
}

/**
 * Parse and decrypt an envelope. A damaged file and a wrong password (or an
 * altered file, which AES-GCM cannot tell apart from one) get distinct codes.
 */
export async function openEnvelope(text: string, password: string, path: string): Promise<Buffer> {
  return (await openEnvelopeKeeping(text, password, path)).plaintext;
}

/** The same, with the key it derived, for saving again without another derivation. */
export async function openEnvelopeKeeping(text: string, password: string, path: string): Promise<{ plaintext: Buffer; derived: DerivedKey }> {
  const envelope = parseEnvelope(text, path);
  const salt = Buffer.from(envelope.salt, 'base64');
  const kdf = { name: 'scrypt', N: envelope.kdf.N, r: envelope.kdf.r, p: envelope.kdf.p } as const;
  const key = await deriveKey(password, salt, kdf);
  const derived: DerivedKey = { salt, kdf, key, check: passwordCheck(password) };
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.nonce, 'base64'));
  decipher.setAAD(associatedData(envelope));
  decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
  try {
    return { plaintext: Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, 'base64')), decipher.final()]), derived };
  } catch {
    throw new SecurenodeError(
      'ERR_KEYSTORE_WRONG_PASSWORD',
      `the keystore password is wrong, or the keystore ${path} was altered; nothing was changed`,
    );
  }
}

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** 256 MiB of scrypt memory at most, 8 times the default. */
const maxKdfMemory = 256 * 1024 * 1024;
/** 64 times the default's N·r·p at most. */
const maxKdfWork = 64 * 2 ** 15 * 8;

function parseEnvelope(text: string, path: string): KeystoreEnvelope {
  const damaged = (why: string): SecurenodeError =>
    new SecurenodeError('ERR_KEYSTORE_CORRUPT', `the keystore ${path} is damaged (${why}); restore it from a backup: a new keystore cannot bring back the passwords of the node's certificates, so without a backup move the home away and start a new one`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw damaged('it is truncated or not a securenode keystore');
  }
  if (typeof value !== 'object' || value === null) throw damaged('it is not a securenode keystore');
  const envelope = value as Partial<Record<keyof KeystoreEnvelope, unknown>>;
  if (envelope.format !== keystoreFormat) throw damaged('it is not a securenode keystore');
  if (envelope.version !== keystoreVersion) throw damaged(`format version ${JSON.stringify(envelope.version)} is not supported by this version of securenode`);
  if (envelope.cipher !== 'aes-256-gcm') throw damaged('unknown cipher');
  const kdf = envelope.kdf as Partial<KdfParameters> | undefined;
  // Bounded before any work: a tampered file must not make scrypt allocate gigabytes (128·N·r bytes) or spin for minutes.
  if (
    !kdf ||
    kdf.name !== 'scrypt' ||
    !isPowerOfTwoBetween(kdf.N, emptyPasswordKdf.N, 2 ** 20) ||
    !isIntBetween(kdf.r, 1, 32) ||
    !isIntBetween(kdf.p, 1, 16) ||
    128 * kdf.N * kdf.r > maxKdfMemory ||
    kdf.N * kdf.r * kdf.p > maxKdfWork
  ) {
    throw damaged('unsupported key derivation parameters');
  }
  for (const [field, bytes] of [['salt', 16], ['nonce', 12], ['tag', 16]] as const) {
    const field64 = envelope[field];
    if (typeof field64 !== 'string' || !base64.test(field64) || Buffer.from(field64, 'base64').length !== bytes) throw damaged(`bad ${field}`);
  }
  if (typeof envelope.ciphertext !== 'string' || !base64.test(envelope.ciphertext)) throw damaged('bad ciphertext');
  return envelope as KeystoreEnvelope;
}

function isIntBetween(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function isPowerOfTwoBetween(value: unknown, min: number, max: number): value is number {
  return isIntBetween(value, min, max) && (value & (value - 1)) === 0;
}

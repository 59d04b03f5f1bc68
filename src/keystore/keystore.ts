import { lstat, readFile } from 'node:fs/promises';
import { SecurenodeError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { deriveNew, derivedFor, openEnvelopeKeeping, sealWith, type DerivedKey } from './envelope.js';
import { homeOfConfigFile } from '../home/layout.js';
import { commandHint } from '../home/command-hint.js';

/** A keystore entry: a string setting, or the bytes of a file added with add-file. */
export interface KeystoreEntry {
  readonly type: 'string' | 'file';
  readonly value: Buffer;
}

const settingName = /^[a-z0-9_\-.]+$/;

/** Throw unless a name can be a keystore setting (lower case, digits, _ - .). */
export function checkSettingName(name: string): void {
  if (!settingName.test(name)) {
    throw new SecurenodeError(
      'ERR_KEYSTORE_SETTING_NAME',
      `invalid setting name '${name}': use lower-case letters, digits, '_', '-' and '.', e.g. bootstrap.password`,
    );
  }
}

/**
 * The encrypted secure settings of a node (SPEC 5): a map of setting name to
 * value, saved as an AES-256-GCM envelope, mode 0600, written atomically.
 */
export class Keystore {
  readonly #entries = new Map<string, KeystoreEntry>();
  /** The key of the last load or save: a save under the same password reuses it. */
  #derived: DerivedKey | undefined;

  /** Whether a keystore file exists at the path (a dangling symlink counts as existing). */
  static async exists(path: string): Promise<boolean> {
    try {
      await lstat(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /** Read and decrypt a keystore. */
  static async load(path: string, password: string): Promise<Keystore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new SecurenodeError('ERR_KEYSTORE_MISSING', `no keystore at ${path}; create one with \`${commandHint('keystore create', homeOfConfigFile(path))}\``);
      }
      throw new SecurenodeError('ERR_IO', `cannot read the keystore ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    const { plaintext, derived } = await openEnvelopeKeeping(text, password, path);
    const keystore = Keystore.#fromPlaintext(plaintext, path);
    keystore.#derived = derived;
    return keystore;
  }

  /** Whether the keystore needs a password (it does unless the empty one opens it). */
  static async isPasswordProtected(path: string): Promise<boolean> {
    try {
      await Keystore.load(path, '');
      return false;
    } catch (error) {
      if (error instanceof SecurenodeError && error.code === 'ERR_KEYSTORE_WRONG_PASSWORD') return true;
      throw error;
    }
  }

  static #fromPlaintext(plaintext: Buffer, path: string): Keystore {
    const keystore = new Keystore();
    try {
      const parsed = JSON.parse(plaintext.toString('utf8')) as { entries: Record<string, { type: string; value: string }> };
      for (const [name, entry] of Object.entries(parsed.entries)) {
        if (entry.type !== 'string' && entry.type !== 'file') throw new Error('bad entry type');
        keystore.#entries.set(name, { type: entry.type, value: Buffer.from(entry.value, 'base64') });
      }
    } catch {
      throw new SecurenodeError('ERR_KEYSTORE_CORRUPT', `the keystore ${path} is damaged (its content is not readable); restore it from a backup`);
    }
    return keystore;
  }

  /** The setting names, sorted. */
  list(): string[] {
    return [...this.#entries.keys()].sort();
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** An entry, or undefined. */
  entry(name: string): KeystoreEntry | undefined {
    return this.#entries.get(name);
  }

  /** A setting's value as text (UTF-8), or undefined. */
  getString(name: string): string | undefined {
    return this.#entries.get(name)?.value.toString('utf8');
  }

  /** Add or replace a string setting. */
  setString(name: string, value: string): void {
    checkSettingName(name);
    this.#entries.set(name, { type: 'string', value: Buffer.from(value, 'utf8') });
  }

  /** Add or replace a setting with a file's bytes. */
  setFile(name: string, value: Uint8Array): void {
    checkSettingName(name);
    this.#entries.set(name, { type: 'file', value: Buffer.from(value) });
  }

  /** Remove a setting; false when it was not there. */
  remove(name: string): boolean {
    return this.#entries.delete(name);
  }

  /** Encrypt under the password and write atomically with an explicit mode (0600 by default). */
  async save(path: string, password: string, mode = 0o600): Promise<void> {
    const entries: Record<string, { type: string; value: string }> = {};
    for (const name of this.list()) {
      const entry = this.#entries.get(name)!;
      entries[name] = { type: entry.type, value: entry.value.toString('base64') };
    }
    // One derivation per password: the first start saves twice, a tool loads then saves.
    if (!derivedFor(this.#derived, password)) this.#derived = await deriveNew(password);
    const envelope = sealWith(Buffer.from(JSON.stringify({ entries })), this.#derived);
    await writeFileAtomic(path, `${JSON.stringify(envelope, null, 2)}\n`, mode);
  }
}

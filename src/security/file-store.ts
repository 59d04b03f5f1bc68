import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecurenodeError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { StoredApiKey, StoredServiceToken } from './api-keys.js';

/** A user as the store keeps it: the password only as an argon2id PHC string. */
export interface StoredUser {
  readonly username: string;
  readonly passwordHash: string;
  readonly roles: readonly string[];
  readonly enabled: boolean;
  readonly fullName?: string;
  readonly email?: string;
}

interface StoreData {
  version: 1;
  users: Record<string, StoredUser>;
  apiKeys?: Record<string, StoredApiKey>;
  serviceTokens?: Record<string, StoredServiceToken>;
}

/** The embedded security store: one JSON file in the data dir, mode 0600, written atomically. */
export class FileStore {
  readonly path: string;
  #data: StoreData;

  private constructor(path: string, data: StoreData) {
    this.path = path;
    this.#data = data;
  }

  /** Open the store of a data dir; a missing file is an empty store. */
  static async open(dataDir: string): Promise<FileStore> {
    const path = join(dataDir, 'security.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new FileStore(path, { version: 1, users: {} });
      throw new SecurenodeError('ERR_IO', `cannot read the security store ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    try {
      const data = JSON.parse(text) as StoreData;
      if (data.version !== 1 || typeof data.users !== 'object' || data.users === null) throw new Error('bad shape');
      return new FileStore(path, data);
    } catch {
      throw new SecurenodeError('ERR_STORE_CORRUPT', `the security store ${path} is damaged; restore it from a backup`);
    }
  }

  /** Whether no user exists yet: the first start of a new cluster. */
  isEmpty(): boolean {
    return Object.keys(this.#data.users).length === 0;
  }

  getUser(username: string): StoredUser | undefined {
    return Object.hasOwn(this.#data.users, username) ? this.#data.users[username] : undefined;
  }

  /** Add or replace a user and write the store. */
  async putUser(user: StoredUser): Promise<void> {
    await this.#write({ ...this.#data, users: { ...this.#data.users, [user.username]: user } });
  }

  getApiKey(id: string): StoredApiKey | undefined {
    const keys = this.#data.apiKeys ?? {};
    return Object.hasOwn(keys, id) ? keys[id] : undefined;
  }

  listApiKeys(): StoredApiKey[] {
    return Object.values(this.#data.apiKeys ?? {});
  }

  /** Add or replace API keys (invalidation is a replacement) and write the store. */
  async putApiKeys(keys: readonly StoredApiKey[]): Promise<void> {
    const apiKeys = { ...this.#data.apiKeys };
    for (const key of keys) apiKeys[key.id] = key;
    await this.#write({ ...this.#data, apiKeys });
  }

  getServiceToken(name: string): StoredServiceToken | undefined {
    const tokens = this.#data.serviceTokens ?? {};
    return Object.hasOwn(tokens, name) ? tokens[name] : undefined;
  }

  async putServiceToken(token: StoredServiceToken): Promise<void> {
    await this.#write({ ...this.#data, serviceTokens: { ...this.#data.serviceTokens, [token.name]: token } });
  }

  async #write(next: StoreData): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`, 0o600);
    this.#data = next;
  }
}

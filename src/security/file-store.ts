import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecurenodeError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { StoredApiKey, StoredServiceToken } from './api-keys.js';
import type { RoleDefinition } from './rbac-matcher.js';

/** A user as the store keeps it: the password only as an argon2id PHC string. */
export interface StoredUser {
  /** A stable id, for entity permissions; given on the first write. */
  readonly id?: string;
  readonly username: string;
  readonly passwordHash: string;
  readonly roles: readonly string[];
  readonly enabled: boolean;
  readonly fullName?: string;
  readonly email?: string;
  readonly metadata?: Record<string, unknown>;
}

/** A role as the store keeps it: the built-in ones are never stored. */
export interface StoredRole extends RoleDefinition {
  readonly id: string;
  readonly name: string;
}

interface StoreData {
  version: 1;
  users: Record<string, StoredUser>;
  apiKeys?: Record<string, StoredApiKey>;
  serviceTokens?: Record<string, StoredServiceToken>;
  roles?: Record<string, StoredRole>;
}

/** The embedded security store: one JSON file in the data dir, mode 0600, written atomically. */
export class FileStore {
  readonly path: string;
  #data: StoreData;
  #generation = 0;

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

  listUsers(): StoredUser[] {
    return Object.values(this.#data.users);
  }

  /** Add or replace a user and write the store; a new user gets its id here. */
  async putUser(user: StoredUser): Promise<void> {
    const stored = { ...user, id: user.id ?? this.getUser(user.username)?.id ?? randomUUID() };
    await this.#write({ ...this.#data, users: { ...this.#data.users, [user.username]: stored } });
  }

  /** Remove a user; false when there was none. */
  async deleteUser(username: string): Promise<boolean> {
    if (!this.getUser(username)) return false;
    const { [username]: _removed, ...users } = this.#data.users;
    await this.#write({ ...this.#data, users });
    return true;
  }

  getRole(name: string): StoredRole | undefined {
    const roles = this.#data.roles ?? {};
    return Object.hasOwn(roles, name) ? roles[name] : undefined;
  }

  listRoles(): StoredRole[] {
    return Object.values(this.#data.roles ?? {});
  }

  /** Add or replace a role and write the store. */
  async putRole(role: StoredRole): Promise<void> {
    await this.#write({ ...this.#data, roles: { ...this.#data.roles, [role.name]: role } });
  }

  /** Remove a role, and take it from every user that held it, in one write. */
  async deleteRole(name: string): Promise<void> {
    const { [name]: _removed, ...roles } = this.#data.roles ?? {};
    const users = Object.fromEntries(Object.entries(this.#data.users).map(([key, user]) => [key, user.roles.includes(name) ? { ...user, roles: user.roles.filter((role) => role !== name) } : user]));
    await this.#write({ ...this.#data, users, roles });
  }

  /** Changes with every write: caches of anything derived from the store compare it. */
  get generation(): number {
    return this.#generation;
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
    this.#generation++;
  }
}

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

/** The whole store, as written to disk and as a holder sends it to the other nodes. */
export interface StoreData {
  version: 1;
  users: Record<string, StoredUser>;
  apiKeys?: Record<string, StoredApiKey>;
  serviceTokens?: Record<string, StoredServiceToken>;
  roles?: Record<string, StoredRole>;
}

/** One change to the store, as plain data: a node that does not hold the store sends it to the one that does. */
export type StoreOp =
  | { readonly op: 'putUser'; readonly user: StoredUser }
  | { readonly op: 'deleteUser'; readonly username: string }
  | { readonly op: 'putRole'; readonly role: StoredRole }
  | { readonly op: 'deleteRole'; readonly name: string }
  | { readonly op: 'putApiKeys'; readonly keys: readonly StoredApiKey[] }
  | { readonly op: 'putServiceToken'; readonly token: StoredServiceToken };

/** The store after `change`: a pure function, the same on every node. */
export function applyStoreOp(data: StoreData, change: StoreOp): StoreData {
  switch (change.op) {
    case 'putUser':
      return { ...data, users: { ...data.users, [change.user.username]: change.user } };
    case 'deleteUser': {
      const { [change.username]: _removed, ...users } = data.users;
      return { ...data, users };
    }
    case 'putRole':
      return { ...data, roles: { ...data.roles, [change.role.name]: change.role } };
    case 'deleteRole': {
      // The role is also taken from every user that held it, in the same write.
      const { [change.name]: _removed, ...roles } = data.roles ?? {};
      const users = Object.fromEntries(Object.entries(data.users).map(([key, user]) => [key, user.roles.includes(change.name) ? { ...user, roles: user.roles.filter((role) => role !== change.name) } : user]));
      return { ...data, users, roles };
    }
    case 'putApiKeys': {
      const apiKeys = { ...data.apiKeys };
      for (const key of change.keys) apiKeys[key.id] = key;
      return { ...data, apiKeys };
    }
    case 'putServiceToken':
      return { ...data, serviceTokens: { ...data.serviceTokens, [change.token.name]: change.token } };
    default:
      throw new SecurenodeError('ERR_USAGE', `unknown store change '${String((change as { op?: unknown }).op)}'`);
  }
}

/**
 * The embedded security store: one JSON file in the data dir, mode 0600,
 * written atomically. On a node that joined a cluster, the store is a replica
 * of the one the cluster's first node holds: `useRemote` sends every change
 * there, and `install` takes what comes back.
 */
export class FileStore {
  readonly path: string;
  #data: StoreData;
  #generation = 0;
  #remote: ((change: StoreOp) => Promise<void>) | undefined;
  readonly #listeners: (() => void)[] = [];

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
    await this.#write({ op: 'putUser', user: { ...user, id: user.id ?? this.getUser(user.username)?.id ?? randomUUID() } });
  }

  /** Remove a user; false when there was none. */
  async deleteUser(username: string): Promise<boolean> {
    if (!this.getUser(username)) return false;
    await this.#write({ op: 'deleteUser', username });
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
    await this.#write({ op: 'putRole', role });
  }

  /** Remove a role, and take it from every user that held it, in one write. */
  async deleteRole(name: string): Promise<void> {
    await this.#write({ op: 'deleteRole', name });
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
    await this.#write({ op: 'putApiKeys', keys });
  }

  getServiceToken(name: string): StoredServiceToken | undefined {
    const tokens = this.#data.serviceTokens ?? {};
    return Object.hasOwn(tokens, name) ? tokens[name] : undefined;
  }

  async putServiceToken(token: StoredServiceToken): Promise<void> {
    await this.#write({ op: 'putServiceToken', token });
  }

  /** Apply a change and write the store; on a replica, have the holder apply it. */
  async apply(change: StoreOp): Promise<void> {
    await this.#write(change);
  }

  /** The whole store, for the nodes that replicate it. */
  snapshot(): StoreData {
    return this.#data;
  }

  /** Replace the whole store with the holder's (a replica only; nothing is written here). */
  install(data: StoreData): void {
    this.#data = data;
    this.#generation++;
  }

  /** Send every change to `remote` instead of writing here: this node does not hold the store. */
  useRemote(remote: (change: StoreOp) => Promise<void>): void {
    this.#remote = remote;
  }

  /** Called after each change this store writes. */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async #write(change: StoreOp): Promise<void> {
    if (this.#remote) return this.#remote(change);
    const next = applyStoreOp(this.#data, change);
    await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`, 0o600);
    this.#data = next;
    this.#generation++;
    for (const listener of this.#listeners) listener();
  }
}

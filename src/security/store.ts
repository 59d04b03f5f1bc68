import { randomUUID } from 'node:crypto';
import { promoteLoaded } from '../io/heap.js';
import type { StoredApiKey, StoredServiceToken } from './api-keys.js';
import type { StoredSession } from './sessions.js';
import type { RoleDefinition } from './rbac-matcher.js';
import { applyInPlace } from './store-ops.js';
import { superuserName } from './superuser.js';

export { applyStoreOp, ownedBy } from './store-ops.js';

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
  /** Console sessions, by id: in the store so that every node knows them. */
  sessions?: Record<string, StoredSession>;
}

/** One change to the store, as plain data: a node that does not hold the store sends it to the one that does. */
export type StoreOp =
  | { readonly op: 'putUser'; readonly user: StoredUser }
  | { readonly op: 'deleteUser'; readonly username: string }
  | { readonly op: 'putRole'; readonly role: StoredRole }
  | { readonly op: 'deleteRole'; readonly name: string }
  | { readonly op: 'putApiKeys'; readonly keys: readonly StoredApiKey[] }
  | { readonly op: 'putServiceToken'; readonly token: StoredServiceToken }
  | { readonly op: 'putSession'; readonly session: StoredSession }
  | { readonly op: 'deleteSessions'; readonly ids: readonly string[] };

/**
 * A change worked out from the store as it is when the change is made: the
 * operations to commit and what to answer. Each store kind runs it where its
 * changes are serialized (its own queue, the holder's, one database
 * transaction), so two changes made at once never build on the same state and
 * neither is lost. It must be pure: a store may run it again after a conflict.
 * It may throw to refuse; nothing is committed then.
 */
export type Mutation<T> = (data: StoreData) => { readonly ops: readonly StoreOp[]; readonly result: T };

/** A user with its id: its own, the stored user's of that name, or a new one. */
export function withId(user: StoredUser, data: StoreData): StoredUser {
  return { ...user, id: user.id ?? (Object.hasOwn(data.users, user.username) ? data.users[user.username]!.id : undefined) ?? randomUUID() };
}

/**
 * What every security store shares: the whole store in memory, read
 * synchronously on the hot path of every request, and changes as plain
 * operations that a store kind commits its own way (a file, a remote holder,
 * a database) before it takes the new data.
 */
export abstract class SecurityStore {
  #data: StoreData = { version: 1, users: {} };
  #generation = 0;
  readonly #listeners: ((ops: readonly StoreOp[]) => void)[] = [];
  #tail: Promise<unknown> = Promise.resolve();

  /** Run a mutation where this store kind serializes its changes, commit its operations, and take them here. */
  protected abstract commit<T>(mutation: Mutation<T>): Promise<T>;

  /** Run `work` after every earlier one has finished: this process's changes one at a time. */
  protected exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work);
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Whether no user exists yet: the first start of a new cluster. */
  isEmpty(): boolean {
    // Answered without listing every user (half a second at a million): a store with its superuser is not empty,
    // and for...in lists them all before its first turn too.
    if (Object.hasOwn(this.#data.users, superuserName)) return false;
    return Object.keys(this.#data.users).length === 0;
  }

  getUser(username: string): StoredUser | undefined {
    return Object.hasOwn(this.#data.users, username) ? this.#data.users[username] : undefined;
  }

  listUsers(): StoredUser[] {
    return Object.values(this.#data.users);
  }

  /** Add or replace a user; a new user gets its id here, an existing one keeps its own. */
  async putUser(user: StoredUser): Promise<void> {
    await this.mutate((data) => ({ ops: [{ op: 'putUser', user: withId(user, data) }], result: undefined }));
  }

  /** Remove a user (and invalidate its API keys); false when there was none. */
  async deleteUser(username: string): Promise<boolean> {
    return this.mutate((data) => (Object.hasOwn(data.users, username) ? { ops: [{ op: 'deleteUser', username }], result: true } : { ops: [], result: false }));
  }

  getRole(name: string): StoredRole | undefined {
    const roles = this.#data.roles ?? {};
    return Object.hasOwn(roles, name) ? roles[name] : undefined;
  }

  listRoles(): StoredRole[] {
    return Object.values(this.#data.roles ?? {});
  }

  /** Add or replace a role. */
  async putRole(role: StoredRole): Promise<void> {
    await this.apply({ op: 'putRole', role });
  }

  /** Remove a role, and take it from every user that held it, in one change. */
  async deleteRole(name: string): Promise<void> {
    await this.apply({ op: 'deleteRole', name });
  }

  /** Changes with every change taken: caches of anything derived from the store compare it. */
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

  /** Add or replace API keys (invalidation is a replacement). */
  async putApiKeys(keys: readonly StoredApiKey[]): Promise<void> {
    await this.apply({ op: 'putApiKeys', keys });
  }

  getServiceToken(name: string): StoredServiceToken | undefined {
    const tokens = this.#data.serviceTokens ?? {};
    return Object.hasOwn(tokens, name) ? tokens[name] : undefined;
  }

  getSession(id: string): StoredSession | undefined {
    const sessions = this.#data.sessions ?? {};
    return Object.hasOwn(sessions, id) ? sessions[id] : undefined;
  }

  listSessions(): StoredSession[] {
    return Object.values(this.#data.sessions ?? {});
  }

  async putServiceToken(token: StoredServiceToken): Promise<void> {
    await this.apply({ op: 'putServiceToken', token });
  }

  /** Commit one change as it is, then take it. */
  async apply(change: StoreOp): Promise<void> {
    await this.mutate(() => ({ ops: [change], result: undefined }));
  }

  /** Work out a change from the store as it is when it is made, commit it, take it, and answer what the mutation answered. */
  mutate<T>(mutation: Mutation<T>): Promise<T> {
    return this.commit(mutation);
  }

  /** The whole store, for the nodes that replicate it. */
  snapshot(): StoreData {
    return this.#data;
  }

  /**
   * Replace the whole store with what the place it lives in holds now (no listener is told). What was built for it
   * leaves V8's young generation here, not in the first collections while the node serves.
   */
  install(data: StoreData): void {
    this.#data = data;
    this.#generation++;
    promoteLoaded();
  }

  /**
   * Take changes in place: the cost of the change, not of the store (the
   * whole store is never copied). Listeners are told when `tell`: the changes
   * this store committed itself.
   */
  protected take(ops: readonly StoreOp[], tell = false): void {
    for (const change of ops) {
      applyInPlace(this.#data, change);
      this.took(this.#data, change);
    }
    this.#generation++;
    if (tell) for (const listener of this.#listeners) listener(ops);
  }

  /** Called after each change is taken in place, for what a store kind keeps beside the data (the file store's key order). */
  protected took(_data: StoreData, _change: StoreOp): void {}

  /**
   * Take every change committed elsewhere up to now, where this store can hear
   * of one later than it was made (a database that other nodes write to): a
   * credential refused here may have been made on another node a moment ago.
   * Whether anything new was taken; it never throws. The embedded store is
   * always current.
   */
  async catchUp(): Promise<boolean> {
    return false;
  }

  /** Where the store lives, for the start's log line; undefined for the embedded file. */
  describe(): string | undefined {
    return undefined;
  }

  /** The key that hashes API key secrets when the store holds it (a database every node shares); undefined when the node's keystore does. */
  get sharedTokenHashKey(): Buffer | undefined {
    return undefined;
  }

  /** Release what the store holds open (connections); the embedded store holds none. */
  async close(): Promise<void> {}

  /** Called with the changes of each change this store commits itself. */
  onChange(listener: (ops: readonly StoreOp[]) => void): void {
    this.#listeners.push(listener);
  }
}

import type { Mutation, StoreData, StoreOp } from './store.js';
import { storeRecords, type StoreRecord } from './store-ops.js';

// What a change worked out from a store that may be behind read of it, so that
// it can be committed even when other changes landed after that store, as long
// as none of them touched what it read or writes (optimistic concurrency with a
// check of what was read): a file store's holder for a replica's change, and a
// PostgreSQL node for its own, under the generation's lock. Without this, a
// replica's change that met any other change was refused and worked out again
// (with 8 clients over two nodes, about 6 tries a change), and a PostgreSQL
// node behind another read what it missed while it held the lock.

/** Per record, the entries a change read by key, or '*': all of it (a scan, an absent record, or too many keys to list). */
export type ReadSet = Partial<Record<StoreRecord, readonly string[] | '*'>>;

/** More keys than this read of one record count as all of it: the set stays small on the wire and cheap to check. */
export const maxKeysRead = 256;

const isRecord = (key: string | symbol): key is StoreRecord => typeof key === 'string' && (storeRecords as readonly string[]).includes(key);

/**
 * The store as a mutation sees it, noting what it reads: an entry looked up by
 * key (get, `in`, Object.hasOwn) notes that key; listing a record (keys,
 * values, a spread) or finding it absent notes all of it. A write through it
 * (a mutation must not write) also counts as reading all of that record.
 */
export function trackReads(data: StoreData): { readonly data: StoreData; reads(): ReadSet } {
  const seen = new Map<StoreRecord, Set<string> | '*'>();
  const note = (record: StoreRecord, key?: string | symbol): void => {
    const keys = seen.get(record);
    if (keys === '*') return;
    if (typeof key !== 'string') return void seen.set(record, '*');
    const next = keys ?? new Set<string>();
    next.add(key);
    seen.set(record, next.size > maxKeysRead ? '*' : next);
  };
  const view = (record: StoreRecord, target: object): object =>
    new Proxy(target, {
      get: (on, key, receiver) => (note(record, key), Reflect.get(on, key, receiver)),
      has: (on, key) => (note(record, key), Reflect.has(on, key)),
      getOwnPropertyDescriptor: (on, key) => (note(record, key), Reflect.getOwnPropertyDescriptor(on, key)),
      ownKeys: (on) => (note(record), Reflect.ownKeys(on)),
      set: (on, key, value, receiver) => (note(record), Reflect.set(on, key, value, receiver)),
      defineProperty: (on, key, descriptor) => (note(record), Reflect.defineProperty(on, key, descriptor)),
      deleteProperty: (on, key) => (note(record), Reflect.deleteProperty(on, key)),
    });
  const views = new Map<StoreRecord, object>();
  const recordOf = (key: StoreRecord): object | undefined => {
    const value = (data as unknown as Record<string, unknown>)[key];
    if (value === null || typeof value !== 'object') {
      // Absent: whatever lands in it later changes what the mutation saw.
      note(key);
      return value as undefined;
    }
    let proxy = views.get(key);
    if (!proxy) views.set(key, (proxy = view(key, value)));
    return proxy;
  };
  const everything = () => storeRecords.forEach((record) => note(record));
  const tracked = new Proxy(data, {
    get: (on, key, receiver) => (isRecord(key) ? recordOf(key) : Reflect.get(on, key, receiver)),
    has: (on, key) => (isRecord(key) && note(key), Reflect.has(on, key)),
    // A descriptor or a listing hands out the records themselves, past the views.
    getOwnPropertyDescriptor: (on, key) => (isRecord(key) && note(key), Reflect.getOwnPropertyDescriptor(on, key)),
    ownKeys: (on) => (everything(), Reflect.ownKeys(on)),
    set: (on, key, value, receiver) => (everything(), Reflect.set(on, key, value, receiver)),
    defineProperty: (on, key, descriptor) => (everything(), Reflect.defineProperty(on, key, descriptor)),
    deleteProperty: (on, key) => (everything(), Reflect.deleteProperty(on, key)),
  });
  return {
    data: tracked,
    reads: () => Object.fromEntries([...seen].map(([record, keys]) => [record, keys === '*' ? '*' : [...keys]])) as ReadSet,
  };
}

/** Work `mutation` out from `data` through the view that notes its reads: what it answers, and (when it changes anything) what it read. */
export function workOutNoting<T>(data: StoreData, mutation: Mutation<T>): { readonly outcome: ReturnType<Mutation<T>>; readonly reads: ReadSet } {
  const tracked = trackReads(data);
  const outcome = mutation(tracked.data);
  return { outcome, reads: outcome.ops.length === 0 ? {} : tracked.reads() };
}

/** No entry's key: looked up through a view, it notes the whole record, and costs nothing on the store itself. */
const wholeRecord = Symbol('the whole record');

/**
 * Read again, through `data`, what `reads` names; every record when undefined. A mutation that takes a change worked
 * out elsewhere (a replica's, on the file store's holder) so read what that change was worked out from, and a view that
 * notes reads (trackReads) sees it: a change grouped with others meets what they write. On the store itself, lookups only.
 */
export function readAgain(data: StoreData, reads: ReadSet | undefined): void {
  const records = data as unknown as Record<string, object | undefined>;
  for (const [record, keys] of reads === undefined ? storeRecords.map((record) => [record, '*'] as const) : Object.entries(reads)) {
    if (keys.length === 0) continue;
    const entries = records[record];
    if (entries === null || typeof entries !== 'object') continue;
    if (keys === '*') Object.hasOwn(entries, wholeRecord);
    else for (const key of keys) Object.hasOwn(entries, key);
  }
}

/** A read set as a peer sent it, or undefined when it is not one (the change then needs the holder's store exactly as it was). */
export function readSetFrom(value: unknown): ReadSet | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  const valid = entries.every(([record, keys]) => isRecord(record) && (keys === '*' || (Array.isArray(keys) && keys.length <= maxKeysRead && keys.every((key) => typeof key === 'string'))));
  return valid ? (value as ReadSet) : undefined;
}

/** One entry a change writes: record and key, or '*' for entries found by a scan when it is applied. */
export type Written = readonly [StoreRecord, string];

/** What one change writes: the entries it names, '*' where applying it scans a record. Throws on a change that is not one. */
export function writesOf(op: StoreOp): readonly Written[] {
  switch (op?.op) {
    case 'putUser':
      return [['users', op.user.username]];
    case 'deleteUser':
      // The user's API keys are invalidated with it, found by a scan.
      return [['users', op.username], ['apiKeys', '*']];
    case 'putRole':
      return [['roles', op.role.name]];
    case 'deleteRole':
      // The role is taken from every user that held it.
      return [['roles', op.name], ['users', '*']];
    case 'putApiKeys':
      return op.keys.map((key) => ['apiKeys', key.id] as const);
    case 'putServiceToken':
      return [['serviceTokens', op.token.name]];
    case 'putSession':
      return [['sessions', op.session.id]];
    case 'deleteSessions':
      return op.ids.map((id) => ['sessions', id] as const);
    default:
      return storeRecords.map((record) => [record, '*'] as const);
  }
}

/**
 * What changes that landed wrote, gathered as they land: whether a change worked out before them meets them (see
 * meets) costs its own reads and writes, not everything they wrote. A group commit checks each of n changes against
 * those before it: gathered once, not n times.
 */
export class LandedWrites {
  /** Per record, the keys written, or '*': entries found by a scan, so any of them. */
  readonly #written = new Map<StoreRecord, Set<string> | '*'>();
  #roles = false;

  /** Note what `ops` write. */
  add(ops: readonly StoreOp[]): this {
    for (const op of ops) this.addWritten(writesOf(op));
    return this;
  }

  /** Note entries written (as a database's change log names them). */
  addWritten(written: Iterable<Written>): this {
    for (const [record, key] of written) {
      if (record === 'roles') this.#roles = true;
      const keys = this.#written.get(record);
      if (keys === '*') continue;
      if (key === '*') this.#written.set(record, '*');
      else this.#written.set(record, (keys ?? new Set<string>()).add(key));
    }
    return this;
  }

  /**
   * Whether what landed touches what a change read (`reads`) or writes itself (`ops`); if not, taking it now leaves the
   * store as taking it before them would have. Any change to a role counts as touching everything: a mutation checks
   * roles through the authorizer (whether a role exists, what the caller may grant), which is not the store it is given.
   */
  meets(reads: ReadSet, ops: readonly StoreOp[]): boolean {
    if (this.#roles) return true;
    const touched = (record: StoreRecord, key: string): boolean => {
      const keys = this.#written.get(record);
      return keys !== undefined && (keys === '*' || key === '*' || keys.has(key));
    };
    for (const [record, keys] of Object.entries(reads) as [StoreRecord, readonly string[] | '*'][]) {
      if (keys === '*' ? touched(record, '*') : keys.some((key) => touched(record, key))) return true;
    }
    return ops.some((op) => writesOf(op).some(([record, key]) => touched(record, key)));
  }
}

/** Whether changes that landed after a change was worked out (`landed`) touch what it read or writes (LandedWrites.meets). */
export function meets(reads: ReadSet, ops: readonly StoreOp[], landed: readonly (readonly StoreOp[])[]): boolean {
  const written = new LandedWrites();
  for (const change of landed) written.add(change);
  return written.meets(reads, ops);
}

/** The same, with what landed as the entries it wrote (as a database's change log names them). */
export function meetsWrites(reads: ReadSet, ops: readonly StoreOp[], written: readonly Written[]): boolean {
  return new LandedWrites().addWritten(written).meets(reads, ops);
}

import { writesOf } from './change-reads.js';
import { storeRecords, type StoreRecord } from './store-ops.js';
import type { StoreData, StoreOp } from './store.js';

/**
 * Each record's keys in the order `Object.keys` lists them, kept as the store
 * changes, so that a fold lists a store's keys without asking V8. V8 keeps an
 * object of 100,000 entries as a hash table, and `Object.keys` sorts its
 * entries by when each was added at every call: 25-30 ms at 100,000 users, a
 * stall of the holder at each fold. Spreading a Set of the same keys takes
 * about 1 ms.
 *
 * A Set orders names as V8 orders an object's: a new one goes last, one
 * replaced keeps its place, one deleted and added again goes last. V8 lists
 * the names that are array indices ('0' to '4294967294', written as a number
 * is) first and in ascending order, whenever they were added: `keys` sets them
 * apart. A change that writes entries found by a scan (writesOf's '*') has its
 * record listed again from the object: those changes scan the record anyway.
 */
export class KeyOrders {
  readonly #sets = new Map<StoreRecord, Set<string>>();

  /** The key order of `data` as it is (Object.keys, once), or as `listed` gives a record's keys (its Object.keys, listed already). */
  constructor(data: StoreData, listed?: ReadonlyMap<StoreRecord, readonly string[]>) {
    for (const name of storeRecords) {
      const keys = listed?.get(name);
      if (keys && data[name] !== undefined) this.#sets.set(name, new Set(keys));
      else this.#list(data, name);
    }
  }

  /** Note what `op` changed, after `data` took it (applyInPlace), one change at a time. */
  took(data: StoreData, op: StoreOp): void {
    for (const [name, key] of writesOf(op)) {
      if (key === '*') {
        this.#list(data, name);
        continue;
      }
      const record = data[name] as Record<string, unknown> | undefined;
      const keys = this.#sets.get(name);
      if (record === undefined || !Object.hasOwn(record, key)) keys?.delete(key);
      else if (keys) keys.add(key);
      else this.#sets.set(name, new Set([key]));
    }
  }

  /** A record's keys, exactly as `Object.keys` would list them now. */
  keys(name: StoreRecord): string[] {
    const all = [...(this.#sets.get(name) ?? [])];
    let indices: string[] | undefined;
    let names: string[] | undefined;
    for (let at = 0; at < all.length; at++) {
      const key = all[at]!;
      if (!isArrayIndex(key)) {
        names?.push(key);
        continue;
      }
      // The first index found: the names before it were all names.
      indices ??= [];
      names ??= all.slice(0, at);
      indices.push(key);
    }
    if (!indices) return all;
    indices.sort((a, b) => Number(a) - Number(b));
    return indices.concat(names!);
  }

  #list(data: StoreData, name: StoreRecord): void {
    const record = data[name] as Record<string, unknown> | undefined;
    if (record === undefined) this.#sets.delete(name);
    else this.#sets.set(name, new Set(Object.keys(record)));
  }
}

/** Whether V8 keeps `key` as an element: an unsigned 32-bit integer below 2^32 - 1, written without a sign, a leading zero or a point. */
export function isArrayIndex(key: string): boolean {
  const first = key.charCodeAt(0);
  if (first < 0x30 || first > 0x39) return false;
  return (key === '0' || (first !== 0x30 && key.length <= 10 && /^\d+$/.test(key))) && Number(key) <= 4_294_967_294;
}

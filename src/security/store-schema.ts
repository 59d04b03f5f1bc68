import { validators } from '../node/compiled-validators.js';
import { writesOf, type Written } from './change-reads.js';
import type { StoreData, StoreOp } from './store.js';
import { setEntry, storeRecords, type StoreRecord } from './store-ops.js';

/**
 * What is wrong with a parsed store file, said as a place and a reason (never
 * a value), or undefined when it has the shape the node serves from. Entries
 * must also sit under their own name, so that a lookup finds what it names.
 * `listed` is given each record's keys as they are checked (Object.keys), for
 * a caller that needs them too: listing a million takes half a second.
 */
export function storeShapeError(data: unknown, listed?: (record: StoreRecord, keys: readonly string[]) => void): string | undefined {
  const validate = validators.store;
  if (!validate(data)) {
    const issue = validate.errors?.[0];
    return `${issue?.instancePath || '/'} ${issue?.message ?? 'has the wrong shape'}`;
  }
  const store = data as StoreData;
  // Key by key: Object.entries would build a pair for each of a million users, 1.5 s and its garbage at a start.
  const misplaced = (record: StoreRecord, field: string): string | undefined => {
    const entries = store[record] as Record<string, object> | undefined;
    if (entries === undefined) return undefined;
    const keys = Object.keys(entries);
    for (const key of keys) if ((entries[key] as Record<string, unknown>)[field] !== key) return key;
    listed?.(record, keys);
    return undefined;
  };
  const where = misplaced('users', 'username') ?? misplaced('roles', 'name') ?? misplaced('apiKeys', 'id') ?? misplaced('serviceTokens', 'name') ?? misplaced('sessions', 'id');
  return where === undefined ? undefined : `the entry under '${where.slice(0, 64)}' names another`;
}

/**
 * The same for a store checked whole before changes were applied to it: only the entries they wrote (`writes`, as
 * noteWrites notes them) are checked again (a whole record where applying them scans it). At a start with a log,
 * checking the whole store a second time cost as much as the first (about 1.3 s at a million users) for the few entries
 * the log changed. A change that does not say what it wrote gets the whole check.
 */
export function writtenShapeError(data: StoreData, writes: Iterable<Written>): string | undefined {
  const part: Record<string, unknown> = { version: data.version, users: {} };
  try {
    for (const [record, key] of writes) {
      const entries = data[record] as Record<string, unknown> | undefined;
      if (entries === undefined) continue;
      if (key === '*') part[record] = entries;
      else if (part[record] !== entries && Object.hasOwn(entries, key)) setEntry((part[record] ??= {}) as Record<string, unknown>, key, entries[key]);
    }
  } catch {
    return storeShapeError(data);
  }
  return storeShapeError(part);
}

/** Note what `op` writes in `written`, once each (by record and key), for writtenShapeError: a change of the wrong shape, every record whole. */
export function noteWrites(written: Map<string, Written>, op: StoreOp): void {
  let writes: readonly Written[];
  try {
    writes = writesOf(op);
  } catch {
    writes = storeRecords.map((record) => [record, '*'] as const);
  }
  for (const write of writes) written.set(`${write[0]}/${write[1]}`, write);
}

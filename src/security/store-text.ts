import { writesOf } from './change-reads.js';
import { storeRecords, type StoreRecord } from './store-ops.js';
import type { StoreData, StoreOp } from './store.js';

/** A record's entries in order: its key and value, one by one. */
type Entries = Iterable<readonly [string, unknown]>;

/** The base file goes to disk in pieces of about this many characters. */
const pieceChars = 64 * 1024;

/**
 * The base file's text, exactly `JSON.stringify(data, null, 2)` and a newline,
 * in pieces of about 64 KiB: each object at the top (a record) is written entry
 * by entry, so that the store is never one string. Folding the log of a store
 * of 100,000 users into its base as one string (29 MB) raised the RSS by 120 MB
 * and held the event loop up to 79 ms at once; in pieces, 43 MB and 34 ms.
 * `entriesOf` lists a record's entries (by default, as they are now).
 */
export function* storeText(data: Record<string, unknown>, entriesOf: (name: string, record: Record<string, unknown>) => Entries = entriesNow): Generator<string> {
  let piece = '';
  for (const fragment of fragments(data, entriesOf)) {
    piece += fragment;
    if (piece.length >= pieceChars) {
      yield piece;
      piece = '';
    }
  }
  yield `${piece}\n`;
}

function* entriesNow(_name: string, record: Record<string, unknown>): Entries {
  for (const key of Object.keys(record)) yield [key, record[key]];
}

/** `JSON.stringify(value, null, 2)` in fragments: the top's entries one by one, and so a record's (`entriesOf`); values below that whole. */
function* fragments(top: Record<string, unknown>, entriesOf: (name: string, record: Record<string, unknown>) => Entries): Generator<string> {
  const entry = (first: boolean, key: string, indent: string) => `${first ? '{' : ','}\n${indent}${JSON.stringify(key)}: `;
  let first = true;
  for (const name of Object.keys(top)) {
    const value = top[name];
    if (value === undefined) continue;
    yield entry(first, name, '  ');
    first = false;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield JSON.stringify(value, null, 2).replaceAll('\n', '\n  ');
      continue;
    }
    let firstEntry = true;
    for (const [key, inner] of entriesOf(name, value as Record<string, unknown>)) {
      if (inner === undefined) continue;
      yield entry(firstEntry, key, '    ');
      firstEntry = false;
      yield JSON.stringify(inner, null, 2).replaceAll('\n', '\n    ');
    }
    yield firstEntry ? '{}' : '\n  }';
  }
  yield first ? '{}' : '\n}';
}

/**
 * The store as it was at one change, kept while it is written out as the base
 * file and changes go on being taken, without copying it: copying a store of
 * 100,000 users took 60-70 ms, and the change after it waited that long. It
 * takes each record's keys when made, and `keep` notes each entry a change
 * is about to replace or delete, as it was, before the change is taken. The
 * store's entries are replaced, never edited (applyInPlace), so the rest are
 * as they were. A change that writes entries found by a scan (writesOf's '*':
 * deleting a role, or a user with API keys) keeps that whole record's values,
 * once.
 */
export class StoreAt {
  readonly #top: Record<string, unknown>;
  readonly #keys = new Map<StoreRecord, readonly string[]>();
  /** Per record: the entries as they were, of those replaced or deleted since; or every value, in the order of its keys. */
  readonly #kept = new Map<StoreRecord, Map<string, unknown> | readonly unknown[]>();

  /** `keysOf` lists a record's keys as `Object.keys` would (KeyOrders); asking V8 took 25-30 ms at 100,000 users. */
  constructor(data: StoreData, seq: number, keysOf: (name: StoreRecord) => readonly string[]) {
    this.#top = { ...data, seq };
    for (const name of storeRecords) if (this.#record(name)) this.#keys.set(name, keysOf(name));
  }

  /** Note what `ops` are about to replace, before the store takes them. */
  keep(ops: readonly StoreOp[]): void {
    for (const op of ops) {
      for (const [name, key] of writesOf(op)) {
        const record = this.#record(name);
        const keys = this.#keys.get(name);
        const kept = this.#kept.get(name);
        // Absent then, or kept whole already.
        if (!record || !keys || (kept && !(kept instanceof Map))) continue;
        const entries = kept ?? new Map<string, unknown>();
        if (key === '*') this.#kept.set(name, keys.map((each) => (entries.has(each) ? entries.get(each) : record[each])));
        else if (!entries.has(key)) this.#kept.set(name, entries.set(key, record[key]));
      }
    }
  }

  /** The base file's text of the store as it was, in pieces (storeText). */
  text(): Generator<string> {
    return storeText(this.#top, (name) => this.#entries(name as StoreRecord));
  }

  *#entries(name: StoreRecord): Entries {
    const record = this.#record(name)!;
    const keys = this.#keys.get(name)!;
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index]!;
      // Looked up at each entry: a change taken meanwhile may keep more.
      const kept = this.#kept.get(name);
      if (kept instanceof Map) yield [key, kept.has(key) ? kept.get(key) : record[key]];
      else yield [key, kept ? kept[index] : record[key]];
    }
  }

  /** A record as it stood when this was made (the same object the store goes on changing in place). */
  #record(name: StoreRecord): Record<string, unknown> | undefined {
    const record = this.#top[name];
    return record !== null && typeof record === 'object' ? (record as Record<string, unknown>) : undefined;
  }
}

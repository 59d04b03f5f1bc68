import { setEntry, storeRecords, type StoreRecord } from '../security/store-ops.js';
import type { StoreData } from '../security/store.js';
import { JsonText } from './connection.js';

// The store's records are sent entry by entry; anything else the store holds (its version) goes with the first answer.
const isRecord = (name: string): name is StoreRecord => (storeRecords as readonly string[]).includes(name);

/** A page ends once it holds this many characters of JSON; an entry is never split, and none is larger than a request body (1 MiB). */
export const pageChars = 1 << 20;

/** One page as a replica reads it: entries by record, as [key, entry] pairs, and whether it is the last. */
interface Page {
  readonly entries: Partial<Record<StoreRecord, [string, unknown][]>>;
  readonly done: boolean;
}

/**
 * A store as it was at one moment, sent to a replica a page at a time and
 * serialized as each page is asked for, so that the holder never holds the
 * store as one text (a join at 100,000 users added about 110 MB to the
 * holder's peak, its serialized copy and the copies of its pages). Each
 * record's keys and entries are captured by reference: entries are replaced,
 * never edited (store-ops.ts), so changes made while the pages go out do not
 * reach them; the replica takes those changes after the capture's number.
 */
export class StorePages {
  /** The store with its records emptied: what a replica fills, in the same order of fields. */
  readonly base: StoreData;
  readonly #records: { readonly name: StoreRecord; readonly keys: string[]; readonly entries: unknown[] }[] = [];
  readonly #pageChars: number;
  #record = 0;
  #entry = 0;
  #next = 0;
  #last: { text: JsonText; done: boolean } | undefined;

  constructor(data: StoreData, pageCharacters = pageChars) {
    this.#pageChars = pageCharacters;
    const base: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(data)) {
      if (isRecord(name) && value !== undefined) {
        base[name] = {};
        this.#records.push({ name, keys: Object.keys(value), entries: Object.values(value) });
      } else {
        base[name] = value;
      }
    }
    this.base = base as unknown as StoreData;
  }

  /** Page `index`: the next one, or the one before again (an answer lost on the way); undefined for any other. */
  page(index: number): { text: JsonText; done: boolean } | undefined {
    if (index === this.#next - 1) return this.#last;
    if (index !== this.#next || (this.#last?.done ?? false)) return undefined;
    // Built with += (a rope), flattened once, when the message is encoded: one copy of the page, not three.
    let text = '';
    // Full once it reaches the size, and never before it holds an entry (a record's name alone can reach a small size).
    let taken = 0;
    const full = () => taken > 0 && text.length >= this.#pageChars;
    while (this.#record < this.#records.length && !full()) {
      const { name, keys, entries } = this.#records[this.#record]!;
      if (this.#entry < keys.length) {
        text += `${text === '' ? '' : ','}${JSON.stringify(name)}:[`;
        for (let first = true; this.#entry < keys.length && !full(); this.#entry++, taken++, first = false) {
          text += `${first ? '' : ','}[${JSON.stringify(keys[this.#entry])},${JSON.stringify(entries[this.#entry]) ?? 'null'}]`;
        }
        text += ']';
      }
      if (this.#entry >= keys.length) {
        this.#record++;
        this.#entry = 0;
      }
    }
    // Records with nothing left (an empty one last) do not make a page of their own.
    while (this.#record < this.#records.length && this.#records[this.#record]!.keys.length === 0) this.#record++;
    const done = this.#record >= this.#records.length;
    this.#last = { text: new JsonText(`{"entries":{${text}},"done":${done}}`), done };
    this.#next++;
    return this.#last;
  }
}

/** A replica's store as the first answer describes it, empty records to be filled by the pages; undefined when it is not one. */
export function emptyStore(base: unknown): StoreData | undefined {
  const data = base as StoreData | undefined;
  if (data?.version !== 1 || typeof data.users !== 'object' || data.users === null) return undefined;
  for (const name of storeRecords) if (data[name] !== undefined && (typeof data[name] !== 'object' || data[name] === null)) return undefined;
  return data;
}

/** Take one page into `data`, entry by entry; whether it was the last. Throws when it is not a page. */
export function takePage(data: StoreData, body: unknown): boolean {
  const page = body as Page | undefined;
  if (typeof page?.entries !== 'object' || page.entries === null || typeof page.done !== 'boolean') throw new Error('the holder sent something that is not a page of the store');
  for (const name of storeRecords) {
    const pairs = Object.hasOwn(page.entries, name) ? page.entries[name] : undefined;
    if (!Array.isArray(pairs)) continue;
    const record = (data[name] ??= {}) as Record<string, unknown>;
    for (const pair of pairs) if (Array.isArray(pair) && typeof pair[0] === 'string') setEntry(record, pair[0], pair[1]);
  }
  return page.done;
}

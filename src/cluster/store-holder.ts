// The node that holds a cluster's file store (shared-store.ts): it numbers
// each change, sends it to every node, keeps the last ones for a node that
// missed some, serves the store in pages to a node that joins, and takes the
// changes the other nodes send it, alone or in batches, by compare and set.
import { randomUUID } from 'node:crypto';
import type { FileStore, StoreData, StoreOp } from '../security/file-store.js';
import { meets, readAgain, readSetFrom, type ReadSet } from '../security/change-reads.js';
import type { Cluster, NodeDescriptor } from './cluster.js';
import { withJsonText } from './connection.js';
import type { StoreSharing } from './shared-store.js';
import { StorePages } from './store-pages.js';

/** The store a replica installs, with the holder's boot and change number it was captured at, so that a replica never goes back to an older one. */
export interface Snapshot {
  readonly epoch: string;
  readonly seq: number;
  readonly data: StoreData;
  /** The key that hashes API key and service token secrets: the same on every node, since the keys are shared. */
  readonly token_hash_key: string;
}

/** One change as the holder numbered it: what it sends every node, and keeps a while for those that missed it. */
export interface NumberedChange {
  readonly seq: number;
  readonly ops: readonly StoreOp[];
}

/**
 * A change a replica sends to the holder: taken if the holder's store is still the one the replica worked it out from,
 * or if what landed since touched nothing it read (`reads`) or writes. A replica that sends no `reads` (one from before
 * they were sent) needs the store exactly as it was.
 */
export interface ChangeRequest {
  readonly ops: readonly StoreOp[];
  readonly epoch?: string;
  readonly seq?: number;
  readonly reads?: ReadSet;
}

/** How many recent changes the holder keeps for replicas that missed some; one further behind gets the whole store. */
const changesKept = 1_000;

/** At most this many changes in one `store.applyAll`: those a replica makes while its last batch is on its way (see Batched). */
export const maxBatch = 64;

/** The holder's side of a shared file store (see shareStore). */
export function holdStore(store: FileStore, tokenHashKey: Buffer | undefined): StoreSharing {
  let cluster: Cluster | undefined;
  const epoch = randomUUID();
  let seq = 0;
  const recent: NumberedChange[] = [];
  const captures = new Map<string, { readonly pages: StorePages; readonly timer: NodeJS.Timeout }>();
  /** The changes after `since` that a replica missed, when they are still kept; else the whole store. */
  const missedSince = (known: unknown, since: unknown): { epoch: string; seq: number; whole?: true; changes?: NumberedChange[] } => {
    const first = recent[0]?.seq ?? seq + 1;
    if (known !== epoch || !Number.isSafeInteger(since) || (since as number) > seq || (since as number) + 1 < first) return { epoch, seq, whole: true };
    // The kept changes are numbered one after another: those after `since` are a slice, not a scan of all 1,000.
    return { epoch, seq, changes: recent.slice((since as number) + 1 - first) };
  };
  /** The node each change taken from a replica came from: its answer tells it, and the broadcast need not. */
  const origins = new WeakMap<readonly StoreOp[], string>();
  /** The number each change taken from a replica got, for its answer. */
  const numbers = new WeakMap<readonly StoreOp[], number>();
  // Each change goes out as itself, not as the store: its cost is its own size, however large the store.
  store.onChange((ops) => {
    seq++;
    numbers.set(ops, seq);
    recent.push({ seq, ops });
    if (recent.length > changesKept) recent.shift();
    cluster?.broadcast('store.changed', { epoch, seq, ops }, origins.get(ops));
  });
  // Compare and set: the check runs in the holder's queue of changes, so nothing lands between it and the write. A change
  // worked out from an older store is taken when the changes since, still kept, touched nothing it read or writes.
  const apply = async (body: unknown, from: NodeDescriptor) => {
    const change = body as ChangeRequest;
    const reads = readSetFrom(change.reads);
    const applied = await store.mutate((data) => {
      // What the replica read, read here: grouped with other changes (a group commit), this one meets what they write.
      readAgain(data, reads);
      if (change.epoch !== epoch || !Array.isArray(change.ops) || !Number.isSafeInteger(change.seq)) return { ops: [], result: false };
      const since = change.seq!;
      const first = recent[0]?.seq ?? seq + 1;
      const untouched = since === seq || (reads !== undefined && since < seq && since + 1 >= first && !meets(reads, change.ops, recent.slice(since + 1 - first).map((landed) => landed.ops)));
      if (!untouched) return { ops: [], result: false };
      origins.set(change.ops, from.id);
      return { ops: change.ops, result: true };
    });
    // Taken: its number alone, however many changes landed since the replica worked it out; those come to the replica
    // as broadcasts (every change but its own), which it takes in order with this one. Answering each change with all
    // of them cost the holder, with 8 clients over two nodes, about 8 changes encoded a change. Refused: the changes
    // the replica did not have, so that it works the change out again at once instead of asking for them first.
    return applied ? { epoch, seq: numbers.get(change.ops) ?? seq, applied } : { ...missedSince(change.epoch, change.seq), applied };
  };
  return {
    handlers: {
      // The store goes in pages, each serialized when it is asked for, so that pings and changes pass between them and
      // the holder never holds the store as one text. The last page taken, the capture goes at once (it was kept a minute
      // after every join); a replica that loses it asks for the store again.
      'store.snapshot': (body) => {
        const { token, index } = (body ?? {}) as { token?: unknown; index?: unknown };
        if (typeof token === 'string') {
          const capture = captures.get(token);
          const page = typeof index === 'number' ? capture?.pages.page(index) : undefined;
          if (page === undefined) throw new Error('that page of the store is no longer kept; ask for the store again');
          if (page.done) {
            clearTimeout(capture!.timer);
            captures.delete(token);
          } else {
            capture!.timer.refresh();
          }
          return page.text;
        }
        // The first page comes with the first answer: a store that fits in it takes one request, as before pages.
        const pages = new StorePages(store.snapshot());
        const first = pages.page(0)!;
        const header = { epoch, seq, token_hash_key: tokenHashKey?.toString('base64') ?? '', base: pages.base };
        if (first.done) return withJsonText(header, 'page', first.text);
        const id = randomUUID();
        // Kept a minute after the last page asked for, and at most a few at once.
        captures.set(id, { pages, timer: setTimeout(() => captures.delete(id), 60_000).unref() });
        if (captures.size > 4) {
          const [oldest, { timer }] = captures.entries().next().value!;
          clearTimeout(timer);
          captures.delete(oldest);
        }
        return withJsonText({ token: id, ...header }, 'page', first.text);
      },
      // What a replica asks before it refuses a credential: cheap, so that a flood of made-up ones costs no snapshots.
      'store.version': () => ({ epoch, seq }),
      // The changes a replica missed, when they are still kept; else the whole store.
      'store.changes': (body) => {
        const { epoch: known, since } = (body ?? {}) as { epoch?: unknown; since?: unknown };
        return missedSince(known, since);
      },
      'store.apply': apply,
      // A replica's changes made while its last batch was on its way: each taken or refused as alone (they go in the
      // holder's next group commit together), each with its own answer or error, in order.
      'store.applyAll': async (body, from) => {
        const changes = (body as { changes?: unknown } | undefined)?.changes;
        if (!Array.isArray(changes) || changes.length === 0 || changes.length > maxBatch) throw new Error(`store.applyAll takes 1 to ${maxBatch} changes`);
        const outcomes = changes.map((change: unknown) => apply(change, from).then((answer) => ({ answer }), (error: Error) => ({ error: error.message })));
        return { outcomes: await Promise.all(outcomes) };
      },
    },
    events: {},
    onConnected: () => {},
    attach: (attached) => void (cluster = attached),
  };
}

import { randomUUID } from 'node:crypto';
import { SecurenodeError } from '../errors.js';
import type { FileStore, Mutation, StoreData, StoreOp } from '../security/file-store.js';
import { freshRuns } from '../security/fresh-runs.js';
import { meets, readAgain, readSetFrom, workOutNoting, type ReadSet } from '../security/change-reads.js';
import type { Cluster, ClusterHandler, NodeDescriptor } from './cluster.js';
import { TransportError, withJsonText } from './connection.js';
import { InOrder } from './in-order.js';
import { emptyStore, StorePages, takePage } from './store-pages.js';

/** The store a replica installs, with the holder's boot and change number it was captured at, so that a replica never goes back to an older one. */
interface Snapshot {
  readonly epoch: string;
  readonly seq: number;
  readonly data: StoreData;
  /** The key that hashes API key and service token secrets: the same on every node, since the keys are shared. */
  readonly token_hash_key: string;
}

/** One change as the holder numbered it: what it sends every node, and keeps a while for those that missed it. */
interface NumberedChange {
  readonly seq: number;
  readonly ops: readonly StoreOp[];
}

/**
 * A change a replica sends to the holder: taken if the holder's store is still the one the replica worked it out from,
 * or if what landed since touched nothing it read (`reads`) or writes. A replica that sends no `reads` (one from before
 * they were sent) needs the store exactly as it was.
 */
interface ChangeRequest {
  readonly ops: readonly StoreOp[];
  readonly epoch?: string;
  readonly seq?: number;
  readonly reads?: ReadSet;
}

/** How many recent changes the holder keeps for replicas that missed some; one further behind gets the whole store. */
const changesKept = 1_000;

/** A replica retries a change this often when other changes keep landing first. */
const maxAttempts = 100;

/** How long a replica waits for the broadcasts of the changes before one it has, before it asks the holder for them. */
const gapMs = 100;

/** What a node needs to share the file store through transport. */
export interface StoreSharing {
  readonly handlers: Record<string, ClusterHandler>;
  readonly events: Record<string, (body: unknown, from: NodeDescriptor) => void>;
  readonly onConnected: (node: NodeDescriptor) => void;
  /** Call once the cluster exists. */
  attach(cluster: Cluster): void;
}

/** A store that is not shared through transport (a database every node reaches itself). */
export const noSharing: StoreSharing = { handlers: {}, events: {}, onConnected: () => {}, attach: () => {} };

/**
 * One security truth across the nodes of a cluster with the file store (SPEC
 * 7.1). The node that created the cluster holds the store: it answers
 * `store.snapshot` and `store.apply`, and sends `store.changed` to every node
 * after each change. Every other node keeps a replica in memory, from which it
 * authenticates (so logins go on while the holder is away), and sends each
 * change to the holder; while the holder is away, a change fails with
 * ERR_STORE_UNAVAILABLE (503 on the REST API).
 */
export function shareStore(store: FileStore, holdsStore: boolean, tokenHashKey: Buffer | undefined): StoreSharing {
  let cluster: Cluster | undefined;
  if (holdsStore) {
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
        // Compare and set: the check runs in the holder's queue of changes, so nothing lands between it and the write. A change
        // worked out from an older store is taken when the changes since, still kept, touched nothing it read or writes.
        'store.apply': async (body, from) => {
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
        },
      },
      events: {},
      onConnected: () => {},
      attach: (attached) => void (cluster = attached),
    };
  }

  const ordered = new InOrder((ops) => store.takeRemote(ops));
  const install = (body: unknown): void => {
    const snapshot = body as Snapshot;
    if (typeof snapshot?.epoch !== 'string' || typeof snapshot.seq !== 'number' || typeof snapshot.data?.users !== 'object') return;
    // The holder's change answers and its broadcasts travel on two connections: never go back.
    const current = ordered.at;
    if (current && current.epoch === snapshot.epoch && current.seq >= snapshot.seq) return;
    store.install(snapshot.data);
    ordered.moved({ epoch: snapshot.epoch, seq: snapshot.seq });
    const key = Buffer.from(snapshot.token_hash_key, 'base64');
    if (tokenHashKey && key.length === tokenHashKey.length) key.copy(tokenHashKey);
  };
  /** Take the changes an answer brings, in order; whether every one was taken. */
  const takeChanges = (epoch: unknown, changes: unknown): boolean => Array.isArray(changes) && changes.every((change: Partial<NumberedChange>) => ordered.offer(epoch, change?.seq, change?.ops) === 'taken');
  const holder = (): NodeDescriptor | undefined => cluster?.find((node) => node.holds_store);
  /** The holder's whole store, page by page: each page's entries taken into the new store as it comes, never one text. */
  const fetchPages = async (node: NodeDescriptor): Promise<void> => {
    const first = (await cluster!.request(node.id, 'store.snapshot', {})) as Partial<Snapshot> & { token?: unknown; base?: unknown; page?: unknown };
    const data = emptyStore(first?.base);
    if (data === undefined) return;
    let done = takePage(data, first.page);
    for (let index = 1; !done && typeof first.token === 'string'; index++) done = takePage(data, await cluster!.request(node.id, 'store.snapshot', { token: first.token, index }));
    if (done) install({ ...first, data } as Snapshot);
  };
  /**
   * One fetch of the whole store at a time: asked again while one is on its way (a change broadcast during a
   * join makes the replica follow), the replica waits for it rather than build a second copy of the store.
   */
  let fetching: Promise<void> | undefined;
  const fetchStore = (node: NodeDescriptor): Promise<void> => (fetching ??= fetchPages(node).finally(() => (fetching = undefined)));
  /** Bring the replica up to the holder: the changes it missed, or the whole store when they are no longer kept. */
  const follow = async (node: NodeDescriptor, orFetch = true): Promise<void> => {
    const answer = (await cluster!.request(node.id, 'store.changes', { epoch: ordered.at?.epoch, since: ordered.at?.seq })) as { epoch?: unknown; changes?: unknown };
    const taken = takeChanges(answer?.epoch, answer?.changes);
    if (taken || !orFetch) return;
    // A fetch already on its way was captured before this question was asked: after it, take what changed since, once.
    const joined = fetching !== undefined;
    await fetchStore(node);
    if (joined) await follow(node, false);
  };
  const notTaken = (node: NodeDescriptor, error: unknown) => new SecurenodeError('ERR_STORE_UNAVAILABLE', `the node that holds the security store (${node.name}) did not take the change: ${(error as Error).message}`);
  const send = async (change: ChangeRequest): Promise<boolean> => {
    const node = holder();
    if (!cluster || !node) {
      throw new SecurenodeError('ERR_STORE_UNAVAILABLE', 'the node that holds the security store cannot be reached; changes are refused until it is back (logins keep working)');
    }
    let answer: { epoch?: unknown; seq?: unknown; applied?: unknown; changes?: NumberedChange[] };
    try {
      answer = (await cluster.request(node.id, 'store.apply', change)) as typeof answer;
    } catch (error) {
      // An answer lost after the holder took the change: no broadcast brings it either (the holder sends none to the node a
      // change came from), so the replica asks for what it missed as soon as it can; and the caller is not told that the
      // change was not made, which it may have been.
      void catchUp.run();
      if (error instanceof TransportError && error.unanswered) {
        throw new SecurenodeError('ERR_STORE_UNAVAILABLE', `the node that holds the security store (${node.name}) did not answer (${error.message}); the change may have been made: read it back before making it again`);
      }
      throw notTaken(node, error);
    }
    if (answer?.changes === undefined && answer?.applied === true) {
      // Taken, with its number: taken here once the changes before it are, which come as broadcasts; when they do not
      // come in time (a broadcast lost), the replica follows the holder. Either way the caller then reads its change here.
      // Taken whatever following meets: the replica then asks again for what it missed, as soon as it can.
      const offered = ordered.offer(answer.epoch, answer.seq, change.ops);
      const behind = offered === 'refused' || (offered === 'ahead' && !(await ordered.reached(answer.epoch as string, answer.seq as number, gapMs)));
      if (behind) {
        await follow(node).catch(() => {
          void catchUp.run();
          watchGap();
        });
      }
      return true;
    }
    // Refused, with what landed first, before the change is worked out again (a holder from before also answered a
    // taken change so). Anything else, the replica follows the holder.
    const taken = takeChanges(answer?.epoch, answer?.changes);
    if (!(taken && ordered.at?.seq === answer?.seq)) await follow(node).catch((error: unknown) => Promise.reject(notTaken(node, error)));
    return answer?.applied === true;
  };
  // A refused credential may have been made a moment ago on another node, its broadcast not here yet: ask the holder for its version, and for what was missed only when it is newer.
  const catchUp = freshRuns(async () => {
    const node = holder();
    if (!cluster || !node) return false;
    try {
      const at = (await cluster.request(node.id, 'store.version', {})) as { epoch?: unknown; seq?: unknown };
      const current = ordered.at;
      if (current && at.epoch === current.epoch && typeof at.seq === 'number' && at.seq <= current.seq) return false;
      await follow(node);
      return ordered.at !== current;
    } catch {
      // The holder away or too old to answer: the replica as it is decides.
      return false;
    }
  });
  /** While changes are kept ahead of a gap: each gapMs that the replica took nothing, it asks the holder what it missed. */
  let gapCheck: NodeJS.Timeout | undefined;
  const watchGap = (): void => {
    if (gapCheck) return;
    const from = ordered.at?.seq;
    gapCheck = setTimeout(() => {
      gapCheck = undefined;
      if (!ordered.waitingForGap) return;
      // Asked again each gapMs until the gap is filled: a holder away a moment is asked once it is back.
      if (ordered.at?.seq === from) void catchUp.run().then(watchGap);
      else watchGap();
    }, gapMs).unref();
  };
  // Optimistic: work the change out from the replica, and again from the holder's newer store when another change landed first.
  store.useRemote(async <T>(mutation: Mutation<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      const { outcome: { ops, result }, reads } = workOutNoting(store.snapshot(), mutation);
      if (ops.length === 0) return result;
      if (await send({ ops, ...ordered.at, reads })) return result;
      if (attempt >= maxAttempts) throw new SecurenodeError('ERR_STORE_UNAVAILABLE', `the security store changed under this change ${maxAttempts} times in a row; retry it`);
    }
  }, catchUp.run);
  return {
    handlers: {},
    events: {
      // The next change is taken in place. One further ahead is kept: the changes before it are on their way (the
      // replica's own, answered after the broadcasts of the changes written with them), or were lost, and then the
      // replica follows the holder once they have not come in time. Another boot's change: it follows at once.
      'store.changed': (body, from) => {
        if (!from.holds_store) return;
        const change = body as { epoch?: unknown; seq?: unknown; ops?: unknown };
        const offered = ordered.offer(change?.epoch, change?.seq, change?.ops);
        if (offered === 'refused') void catchUp.run();
        else if (offered === 'ahead') watchGap();
      },
    },
    onConnected: (node) => {
      if (!node.holds_store || !cluster) return;
      fetchStore(node).catch(() => {});
    },
    attach: (attached) => void (cluster = attached),
  };
}

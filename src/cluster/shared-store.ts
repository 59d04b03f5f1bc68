import { SecurenodeError } from '../errors.js';
import type { FileStore, Mutation } from '../security/file-store.js';
import { freshRuns } from '../security/fresh-runs.js';
import { workOutNoting } from '../security/change-reads.js';
import type { Cluster, ClusterHandler, NodeDescriptor } from './cluster.js';
import { TransportError } from './connection.js';
import { Batched, type BatchOutcome } from './batched.js';
import { InOrder } from './in-order.js';
import { emptyStore, takePage } from './store-pages.js';
import { holdStore, maxBatch, type ChangeRequest, type NumberedChange, type Snapshot } from './store-holder.js';

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
 * 7.1). The node that created the cluster holds the store (store-holder.ts):
 * it answers `store.snapshot` and `store.applyAll`, and sends `store.changed`
 * to every node after each change. Every other node keeps a replica in memory,
 * from which it authenticates (so logins go on while the holder is away), and
 * sends each change to the holder, those made while its last are on their way
 * together (Batched); while the holder is away, a change fails with
 * ERR_STORE_UNAVAILABLE (503 on the REST API).
 */
export function shareStore(store: FileStore, holdsStore: boolean, tokenHashKey: Buffer | undefined): StoreSharing {
  let cluster: Cluster | undefined;
  if (holdsStore) return holdStore(store, tokenHashKey);

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
  /**
   * The changes for one holder, batched (Batched): `store.applyAll`, or one `store.apply` each where the holder is from
   * before batches (it answers that it knows no such method).
   */
  let batches: { readonly holder: string; readonly batched: Batched } | undefined;
  const unbatched = new Set<string>();
  const applyAll = async (node: NodeDescriptor, changes: readonly unknown[]): Promise<readonly BatchOutcome[]> => {
    const one = (change: unknown) => cluster!.request(node.id, 'store.apply', change).then((answer) => ({ answer }), (error: Error) => ({ error }));
    if (unbatched.has(node.id)) return Promise.all(changes.map(one));
    try {
      const answer = (await cluster!.request(node.id, 'store.applyAll', { changes })) as { outcomes?: unknown };
      if (!Array.isArray(answer?.outcomes)) throw new TransportError('store.applyAll answered without outcomes');
      return answer.outcomes.map((outcome: { answer?: unknown; error?: unknown }) => (typeof outcome?.error === 'string' ? { error: new TransportError(outcome.error) } : { answer: outcome?.answer }));
    } catch (error) {
      if (!(error instanceof TransportError && error.message === 'unknown method store.applyAll')) throw error;
      unbatched.add(node.id);
      return Promise.all(changes.map(one));
    }
  };
  const applyAtHolder = (node: NodeDescriptor, change: ChangeRequest): Promise<unknown> => {
    if (batches?.holder !== node.id) batches = { holder: node.id, batched: new Batched((changes) => applyAll(node, changes), maxBatch) };
    return batches.batched.request(change);
  };
  const notTaken = (node: NodeDescriptor, error: unknown) => new SecurenodeError('ERR_STORE_UNAVAILABLE', `the node that holds the security store (${node.name}) did not take the change: ${(error as Error).message}`);
  const send = async (change: ChangeRequest): Promise<boolean> => {
    const node = holder();
    if (!cluster || !node) {
      throw new SecurenodeError('ERR_STORE_UNAVAILABLE', 'the node that holds the security store cannot be reached; changes are refused until it is back (logins keep working)');
    }
    let answer: { epoch?: unknown; seq?: unknown; applied?: unknown; changes?: NumberedChange[] };
    try {
      answer = (await applyAtHolder(node, change)) as typeof answer;
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
      // A holder connected again may be a newer one (upgraded in place): it is asked for batches again.
      unbatched.delete(node.id);
      fetchStore(node).catch(() => {});
    },
    attach: (attached) => void (cluster = attached),
  };
}

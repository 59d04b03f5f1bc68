import { randomUUID } from 'node:crypto';
import { SecurenodeError } from '../errors.js';
import type { FileStore, Mutation, StoreData, StoreOp } from '../security/file-store.js';
import { freshRuns } from '../security/fresh-runs.js';
import type { Cluster, ClusterHandler, NodeDescriptor } from './cluster.js';

/** A holder's copy of the store: its boot and change number, so that a replica never goes back to an older one. */
interface Snapshot {
  readonly epoch: string;
  readonly seq: number;
  readonly data: StoreData;
  /** The key that hashes API key and service token secrets: the same on every node, since the keys are shared. */
  readonly token_hash_key: string;
}

/** A change a replica sends to the holder: taken only if the holder's store is still the one the replica worked it out from. */
interface ChangeRequest {
  readonly ops: readonly StoreOp[];
  readonly epoch?: string;
  readonly seq?: number;
}

/** A replica retries a change this often when other changes keep landing first. */
const maxAttempts = 100;

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
    const snapshot = (): Snapshot => ({ epoch, seq, data: store.snapshot(), token_hash_key: tokenHashKey?.toString('base64') ?? '' });
    store.onChange(() => {
      seq++;
      cluster?.broadcast('store.changed', snapshot());
    });
    return {
      handlers: {
        'store.snapshot': () => snapshot(),
        // What a replica asks before it refuses a credential: cheap, so that a flood of made-up ones costs no snapshots.
        'store.version': () => ({ epoch, seq }),
        // Compare and set: the check runs in the holder's queue of changes, so nothing lands between it and the write.
        'store.apply': async (body) => {
          const change = body as ChangeRequest;
          const applied = await store.mutate(() => (change.epoch === epoch && change.seq === seq && Array.isArray(change.ops) ? { ops: change.ops, result: true } : { ops: [], result: false }));
          return { ...snapshot(), applied };
        },
      },
      events: {},
      onConnected: () => {},
      attach: (attached) => void (cluster = attached),
    };
  }

  let current: { epoch: string; seq: number } | undefined;
  const install = (body: unknown): void => {
    const snapshot = body as Snapshot;
    if (typeof snapshot?.epoch !== 'string' || typeof snapshot.seq !== 'number' || typeof snapshot.data?.users !== 'object') return;
    // The holder's change answers and its broadcasts travel on two connections: never go back.
    if (current && current.epoch === snapshot.epoch && current.seq >= snapshot.seq) return;
    current = { epoch: snapshot.epoch, seq: snapshot.seq };
    store.install(snapshot.data);
    const key = Buffer.from(snapshot.token_hash_key, 'base64');
    if (tokenHashKey && key.length === tokenHashKey.length) key.copy(tokenHashKey);
  };
  const holder = (): NodeDescriptor | undefined => cluster?.find((node) => node.holds_store);
  const send = async (change: ChangeRequest): Promise<boolean> => {
    const node = holder();
    if (!cluster || !node) {
      throw new SecurenodeError('ERR_STORE_UNAVAILABLE', 'the node that holds the security store cannot be reached; changes are refused until it is back (logins keep working)');
    }
    let answer: unknown;
    try {
      answer = await cluster.request(node.id, 'store.apply', change);
    } catch (error) {
      throw new SecurenodeError('ERR_STORE_UNAVAILABLE', `the node that holds the security store (${node.name}) did not take the change: ${(error as Error).message}`);
    }
    install(answer);
    return (answer as { applied?: unknown }).applied === true;
  };
  // A refused credential may have been made a moment ago on another node, its broadcast not here yet: ask the holder for its version, and for its store only when it is newer.
  const catchUp = freshRuns(async () => {
    const node = holder();
    if (!cluster || !node) return false;
    try {
      const at = (await cluster.request(node.id, 'store.version', {})) as { epoch?: unknown; seq?: unknown };
      if (current && at.epoch === current.epoch && typeof at.seq === 'number' && at.seq <= current.seq) return false;
      const before = current;
      install(await cluster.request(node.id, 'store.snapshot', {}));
      return current !== before;
    } catch {
      // The holder away or too old to answer: the replica as it is decides.
      return false;
    }
  });
  // Optimistic: work the change out from the replica, and again from the holder's newer store when another change landed first.
  store.useRemote(async <T>(mutation: Mutation<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      const { ops, result } = mutation(store.snapshot());
      if (ops.length === 0) return result;
      if (await send({ ops, ...current })) return result;
      if (attempt >= maxAttempts) throw new SecurenodeError('ERR_STORE_UNAVAILABLE', `the security store changed under this change ${maxAttempts} times in a row; retry it`);
    }
  }, catchUp.run);
  return {
    handlers: {},
    events: {
      'store.changed': (body, from) => {
        if (from.holds_store) install(body);
      },
    },
    onConnected: (node) => {
      if (!node.holds_store || !cluster) return;
      cluster.request(node.id, 'store.snapshot', {}).then(install, () => {});
    },
    attach: (attached) => void (cluster = attached),
  };
}

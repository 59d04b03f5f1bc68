// A file store's holder and a replica wired through a fake transport (shared-store.ts): broadcasts a test can drop,
// requests counted, answers encoded as the transport encodes them.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import type { Cluster, NodeDescriptor } from '../../src/cluster/cluster.js';
import { encodeMessage, TransportError } from '../../src/cluster/connection.js';
import { shareStore } from '../../src/cluster/shared-store.js';
import { FileStore } from '../../src/security/file-store.js';

export const holderNode: NodeDescriptor = { id: 'holder', name: 'first', transport_address: '127.0.0.1:1', http_address: '127.0.0.1:2', holds_store: true };
export const replicaNode: NodeDescriptor = { id: 'replica', name: 'second', transport_address: '127.0.0.1:3', http_address: '127.0.0.1:4', holds_store: false };
export const user = (username: string, passwordHash = 'hash') => ({ username, id: randomUUID(), passwordHash, roles: [], enabled: true });

/**
 * A holder and a replica wired through a transport whose broadcasts a test can drop, and that counts the replica's requests.
 * `fill` runs on the holder's store before the replica connects; `duringJoin` runs once, as the replica asks for its second page;
 * `lose` is asked of each broadcast, besides `wire.deliver`, whether it is lost.
 */
export async function holderAndReplica(t: Test, options: { fill?: (store: FileStore) => Promise<void>; duringJoin?: () => Promise<void>; lose?: () => boolean } = {}) {
  const holderStore = await FileStore.open(t.testdir());
  await options.fill?.(holderStore);
  const replicaStore = await FileStore.open(t.testdir());
  const key = randomBytes(32);
  const holder = shareStore(holderStore, true, key);
  const replica = shareStore(replicaStore, false, Buffer.alloc(32));
  const wire = { deliver: true, away: false, answerLost: false, failing: [] as string[], requests: [] as string[], bodies: [] as unknown[], broadcastBytes: [] as number[], answerChars: [] as number[] };
  holder.attach({
    broadcast: (method: string, body: unknown, except?: string) => {
      if (except === replicaNode.id) return;
      wire.broadcastBytes.push(JSON.stringify(body).length);
      // Sent as the transport sends it: serialized, never shared.
      if (wire.deliver && !options.lose?.()) replica.events[method]?.(JSON.parse(JSON.stringify(body)), holderNode);
    },
  } as unknown as Cluster);
  replica.attach({
    find: (test: (node: NodeDescriptor) => boolean) => [holderNode].find(test),
    request: async (_id: string, method: string, body: unknown) => {
      wire.requests.push(method);
      wire.bodies.push(body);
      if (wire.away) throw new TransportError(`${method}: node holder is not connected`);
      if (wire.failing.includes(method)) throw new TransportError(`${method}: no answer within 10000 ms`, true);
      if (options.duringJoin && method === 'store.snapshot' && (body as { index?: unknown }).index === 1) {
        const during = options.duringJoin;
        options.duringJoin = undefined;
        await during();
      }
      // Answered as the transport answers: encoded as a message, a page already serialized spliced in as it is.
      // A holder from before a method knows none of it, as the transport says.
      const handler = holder.handlers[method];
      if (!handler) throw new TransportError(`unknown method ${method}`);
      const text = encodeMessage({ type: 'response', id: 1, body: await handler(body, replicaNode) });
      if (wire.answerLost && method.startsWith('store.apply')) throw new TransportError(`${method}: no answer within 10000 ms`, true);
      wire.answerChars.push(text.length);
      return (JSON.parse(text) as { body: unknown }).body;
    },
  } as unknown as Cluster);
  // Connected: the replica takes the holder's store, as on a real connection.
  replica.onConnected(holderNode);
  await new Promise((resolve) => setImmediate(resolve));
  // A large store takes several pages, and what changed meanwhile a moment more.
  for (let waited = 0; JSON.stringify(replicaStore.snapshot()) !== JSON.stringify(holderStore.snapshot()) && waited < 300; waited++) await new Promise((resolve) => setTimeout(resolve, 10));
  const join = wire.requests.map((method, index) => ({ method, body: wire.bodies[index] }));
  wire.requests.length = 0;
  wire.bodies.length = 0;
  return { holder, holderStore, replica, replicaStore, wire, join };
}

/** The changes the replica sent the holder, however many went in a message. */
export const changesSent = (wire: { requests: string[]; bodies: unknown[] }) =>
  wire.requests.reduce((sum, method, index) => sum + (method === 'store.applyAll' ? (wire.bodies[index] as { changes: unknown[] }).changes.length : method === 'store.apply' ? 1 : 0), 0);


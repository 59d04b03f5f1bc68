// Cluster.broadcast over real transport connections (mutual TLS on loopback):
// every connected node gets an event once, whichever connections join them (a
// node both dials and is dialed by each peer), and the node it is told to
// leave out gets none. The holder leaves out the replica a change came from:
// its answer already carries the change, and a broadcast of it besides was
// encoded, encrypted, sent and parsed only to be dropped.
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { TlsFiles } from '../../src/autoconfig/tls-files.js';
import { Cluster, type NodeDescriptor } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/logging/logger.js';
import { createTransportServer } from '../../src/node/transport.js';
import { generateTlsMaterial } from '../../src/pki/tls-material.js';
import { within } from '../helpers/cluster.js';

const material = await generateTlsMaterial({ nodeName: 'node', subjectAltNames: [] });
// Every node of the test shows the same transport certificate: what is tested is who gets an event, not who is who.
const tls = { transportP12: material.transportP12, transportP12Password: material.passwords.transport, transportCaPem: material.transportCaPem } as TlsFiles;

/** Three nodes, each listening and dialing the others, until each has dialed both (and so is dialed by both). */
async function threeClusters(t: Test) {
  const logger = await createLogger(t.testdir(), { stdout: new Writable({ write: (_chunk, _encoding, done) => done() }) });
  const names = ['a', 'b', 'c'] as const;
  const servers = await Promise.all(
    names.map(async () => {
      let cluster: Cluster | undefined;
      const server = createTransportServer(tls, (socket) => cluster!.accept(socket));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, attach: (attached: Cluster) => void (cluster = attached) };
    }),
  );
  const received = new Map<string, { method: string; body: unknown; from: string }[]>(names.map((name) => [name, []]));
  const connected = new Map<string, Set<string>>(names.map((name) => [name, new Set()]));
  const clusters = names.map((name, index) => {
    const self: NodeDescriptor = { id: name, name, transport_address: servers[index]!.address, http_address: '127.0.0.1:1', holds_store: index === 0 };
    const cluster = new Cluster({
      tls,
      clusterName: 'c',
      clusterUuid: 'u',
      self: () => self,
      seeds: servers.filter((_, other) => other !== index).map((server) => server.address),
      logger,
      events: {
        note: (body, from) => received.get(name)!.push({ method: 'note', body, from: from.id }),
        mark: (body, from) => received.get(name)!.push({ method: 'mark', body, from: from.id }),
      },
      onConnected: (node) => connected.get(name)!.add(node.id),
      pingIntervalMs: 100,
    });
    servers[index]!.attach(cluster);
    cluster.start();
    return cluster;
  });
  t.teardown(async () => {
    await Promise.all(clusters.map((cluster) => cluster.close()));
    await Promise.all(servers.map(({ server }) => new Promise((resolve) => server.close(resolve))));
  });
  const all = await within(10_000, async () => [...connected.values()].every((peers) => peers.size === 2));
  t.not(all, undefined, 'each node dialed both others');
  return { clusters, received };
}

t.test('a broadcast reaches every connected node once, and never the node left out', async (t) => {
  const { clusters, received } = await threeClusters(t);
  const [a] = clusters;
  for (const except of [undefined, 'b', 'c', 'a']) {
    for (const list of received.values()) list.length = 0;
    a!.broadcast('note', { except: except ?? null }, except);
    // Then a mark to every node: a's events to a node go on one connection, in order, so once the mark is there, so is
    // any copy of the note that was sent.
    a!.broadcast('mark', {});
    const marked = await within(2_000, async () => ['b', 'c'].every((name) => received.get(name)!.some((event) => event.method === 'mark')));
    t.not(marked, undefined, 'the mark reached b and c');
    const expected = ['b', 'c'].filter((name) => name !== except);
    for (const name of ['b', 'c']) {
      const notes = received.get(name)!.filter((event) => event.method === 'note');
      t.same(notes, expected.includes(name) ? [{ method: 'note', body: { except: except ?? null }, from: 'a' }] : [], `left out: ${except ?? 'none'}; ${name} got ${expected.includes(name) ? 'it once' : 'nothing'}`);
    }
    t.same(received.get('a'), [], 'the sender gets nothing of its own');
  }
});

// A node closing while a peer dials it: the peer's TLS handshake can end after
// the cluster closed. Served then, the connection lived as long as the peer
// kept it, and the transport listener's close, which waits for its last
// connection, never ended: a node that had just joined hung on SIGTERM.
import { createServer, connect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { Cluster, type NodeDescriptor } from '../../src/cluster/cluster.js';
import { Connection } from '../../src/cluster/connection.js';
import { createLogger } from '../../src/logging/logger.js';
import { Writable } from 'node:stream';
import { within } from '../helpers/cluster.js';

const self: NodeDescriptor = { id: 'self', name: 'self', transport_address: '127.0.0.1:1', http_address: '127.0.0.1:2', holds_store: true };
const peer: NodeDescriptor = { id: 'peer', name: 'peer', transport_address: '127.0.0.1:3', http_address: '127.0.0.1:4', holds_store: false };

t.test('a connection that reaches a closed cluster is closed at once, not served', async (t) => {
  const logger = await createLogger(t.testdir(), { stdout: new Writable({ write: (_chunk, _encoding, done) => done() }) });
  const cluster = new Cluster({ tls: {} as never, clusterName: 'c', clusterUuid: 'u', self: () => self, seeds: [], logger });
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Every socket ends with the test, whatever the cluster did with it: a failure must not hold the file open.
  const sockets: Socket[] = [];
  server.on('connection', (socket) => sockets.push(socket));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const hello = { cluster_name: 'c', cluster_uuid: 'u', store_type: 'file', node: peer };
  /** A peer dials: the handshake's answer, or the error that ended the connection. */
  const dial = async (): Promise<{ answered: unknown; closed: () => boolean }> => {
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const socket = connect((server.address() as { port: number }).port, '127.0.0.1');
    sockets.push(socket);
    let ended = false;
    socket.once('close', () => (ended = true));
    await new Promise((resolve) => socket.once('connect', resolve));
    cluster.accept((await accepted) as unknown as TLSSocket);
    const answered = await new Connection(socket as unknown as TLSSocket).request('handshake', hello, 2_000).catch((error: Error) => error.message);
    return { answered, closed: () => ended };
  };
  const open = await dial();
  t.match(open.answered, { node: self }, 'before close: the handshake is answered');
  await cluster.close();
  t.not(await within(2_000, async () => open.closed()), undefined, 'close() ends the connections it served');
  const late = await dial();
  t.notMatch(late.answered, { node: self }, 'after close: no handshake is answered');
  t.not(await within(2_000, async () => late.closed()), undefined, 'and the connection is closed at once');
});

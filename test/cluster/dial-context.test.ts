// A node dials every node it knows each second until it reaches it: a node
// away (stopped, or a peer of a node that left) is dialed again and again. The
// TLS context a dial shows (transport.p12's key and chain, the transport CA)
// is made once, not parsed again at each dial, and made anew when the
// certificate is renewed.
import { createServer, type Socket } from 'node:net';
import { syncBuiltinESMExports } from 'node:module';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import t from 'tap';
import type { TlsFiles } from '../../src/autoconfig/tls-files.js';
import { Cluster, type NodeDescriptor } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/logging/logger.js';
import { generateTlsMaterial } from '../../src/pki/tls-material.js';
import { within } from '../helpers/cluster.js';

const material = await generateTlsMaterial({ nodeName: 'node', subjectAltNames: [] });

t.test('dialing a node that never answers the handshake, again and again, makes the TLS context once; a renewed transport.p12 makes it once more', async (t) => {
  // Every TLS context made in this process from now on, the cluster's and any connect()'s own.
  const made = { count: 0 };
  const createSecureContext = tls.createSecureContext;
  tls.createSecureContext = (...args) => {
    made.count++;
    return createSecureContext(...args);
  };
  syncBuiltinESMExports();
  t.teardown(() => {
    tls.createSecureContext = createSecureContext;
    syncBuiltinESMExports();
  });
  // A node away: it takes the connection and closes it, so each dial fails at once.
  const sockets: Socket[] = [];
  const away = createServer((socket) => {
    sockets.push(socket);
    socket.destroy();
  });
  await new Promise<void>((resolve) => away.listen(0, '127.0.0.1', resolve));
  const files: { -readonly [key in keyof TlsFiles]: TlsFiles[key] } = { transportP12: material.transportP12, transportP12Password: material.passwords.transport, transportCaPem: material.transportCaPem } as TlsFiles;
  const self: NodeDescriptor = { id: 'self', name: 'self', transport_address: '127.0.0.1:1', http_address: '127.0.0.1:2', holds_store: true };
  const logger = await createLogger(t.testdir(), { stdout: new Writable({ write: (_chunk, _encoding, done) => done() }) });
  const cluster = new Cluster({ tls: files, clusterName: 'c', clusterUuid: 'u', self: () => self, seeds: [`127.0.0.1:${(away.address() as { port: number }).port}`], logger, pingIntervalMs: 20 });
  t.teardown(async () => {
    await cluster.close();
    await new Promise((resolve) => away.close(resolve));
  });
  cluster.start();
  t.not(await within(5_000, async () => sockets.length >= 8), undefined, 'dialed 8 times');
  t.equal(made.count, 1, `${sockets.length} dials, one TLS context`);

  // Renewed: the node's TlsFiles get the new transport.p12 (certificate-keeper.ts); the next dials show it.
  files.transportP12 = Buffer.from(material.transportP12);
  const before = sockets.length;
  t.not(await within(5_000, async () => sockets.length >= before + 8), undefined, 'dialed 8 times more');
  t.equal(made.count, 2, 'one more context, for the renewed certificate');
});

// Bench helper, run as a child process: serve `node` (securenode's node, with a
// superuser, and a user with 20 roles) or `bare` (a plain Node https server with the same key and certificate)
// and print the port. Both answer GET / with the same small JSON body.
import { createServer } from 'node:https';
import { Writable } from 'node:stream';
import { autoConfigure } from '../../src/autoconfig/auto-configure.js';
import { createLogger } from '../../src/logging/logger.js';
import { loadIdentity } from '../../src/node/data-dir.js';
import { startNode } from '../../src/node/server.js';
import { loadGatewayRoutes } from '../../src/gateway/gateway.js';
import { FileStore } from '../../src/security/file-store.js';
import { hashPassword } from '../../src/security/password.js';
import { boundHeapGrowth } from '../../src/io/heap.js';

const [mode, home, password] = process.argv.slice(2) as ['node' | 'bare', string, string];
// BENCH_UPSTREAM puts a gateway route /app in front of that upstream (the gateway bench).
const upstream = process.env['BENCH_UPSTREAM'];
const result = await autoConfigure({ home, env: {}, overrides: ['http.port=0', 'transport.port=0', 'http.host=127.0.0.1', ...(upstream ? [`gateway.routes=[{name: app, path: /app, upstream: "${upstream}"}]`] : [])] });
const tls = result.tls!;
if (mode === 'bare') {
  // The node's own answer to GET /, byte for byte: both servers encrypt, send and the client parses the same response.
  const body = JSON.stringify({
    name: result.settings.string('node.name'),
    cluster_name: result.settings.string('cluster.name'),
    cluster_uuid: (await loadIdentity(result.paths.dataDir)).clusterUuid,
    version: { number: 'bench' },
    tagline: 'Secure on first start',
  });
  const server = createServer({ pfx: tls.httpP12, passphrase: tls.httpP12Password, minVersion: 'TLSv1.2' }, (_request, response) => {
    response.setHeader('content-type', 'application/json; charset=utf-8');
    response.end(body);
  });
  server.listen(0, '127.0.0.1', () => console.log((server.address() as { port: number }).port));
} else {
  // The node as `securenode start` runs it: with its heap held to 1.3 times what is live.
  boundHeapGrowth();
  const store = await FileStore.open(result.paths.dataDir);
  if (!store.getUser('elastic')) await store.putUser({ username: 'elastic', passwordHash: await hashPassword(password), roles: ['superuser'], enabled: true });
  // A user with 20 roles of a few rows each, one of which grants the read that GET / needs.
  if (!store.getUser('many')) {
    for (let index = 0; index < 20; index++) {
      await store.putRole({
        id: `role-${index}`,
        name: `role-${index}`,
        endpoints: [
          { endpoint: `/_security/role/r${index}`, actions: ['read', 'update'], negative: false },
          { endpoint: `/_nodes/*/r${index}`, actions: ['*'], negative: index % 2 === 0 },
          ...(index === 19 ? [{ endpoint: '*', actions: ['read' as const], negative: false }] : []),
        ],
        entities: [{ entity_id: `e${index}`, entity_type: 'user', actions: ['read'], negative: false }],
      });
    }
    await store.putUser({ username: 'many', passwordHash: await hashPassword(password), roles: Array.from({ length: 20 }, (_, index) => `role-${index}`), enabled: true });
  }
  const logger = await createLogger(result.paths.logsDir, { stdout: process.env['BENCH_LOG'] ? process.stderr : new Writable({ write: (_chunk, _encoding, done) => done() }) });
  const gateway = await loadGatewayRoutes(result.settings, result.paths.configDir);
  // BENCH_EARLY_ANSWERS=off: every request routed through fastify (the early answers bench).
  const earlyAnswers = process.env['BENCH_EARLY_ANSWERS'] !== 'off';
  const node = await startNode({ gateway, settings: result.settings, tls, store, identity: await loadIdentity(result.paths.dataDir), logger, version: 'bench', earlyAnswers });
  console.log(node.http.port);
}

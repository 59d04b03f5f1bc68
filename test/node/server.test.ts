import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { networkInterfaces } from 'node:os';
import { Writable } from 'node:stream';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import t from 'tap';
import { autoConfigure } from '../../src/autoconfig/auto-configure.js';
import { createLogger } from '../../src/logging/logger.js';
import { loadIdentity } from '../../src/node/data-dir.js';
import { coldValidators } from '../../src/node/body-limits.js';
import { startNode } from '../../src/node/server.js';
import { tickShapeKept } from '../../src/io/heap.js';
import { generateTlsMaterial } from '../../src/pki/tls-material.js';
import { FileStore } from '../../src/security/file-store.js';
import { createOperatorToken } from '../../src/security/operator-token.js';
import { hashPassword } from '../../src/security/password.js';
import { httpsJson } from '../helpers/https.js';
import { transportHandshake } from '../helpers/transport.js';

const home = `${t.testdir()}/home`;
const configured = await autoConfigure({ home, env: {}, overrides: ['http.port=0', 'transport.port=0', 'node.name=node-a', 'http.host=127.0.0.1'] });
if (configured.kind !== 'configured') throw new Error('expected a configured home');
const { paths, tls } = configured;
const store = await FileStore.open(paths.dataDir);
await store.putUser({ username: 'elastic', passwordHash: await hashPassword('right-password-1'), roles: ['superuser'], enabled: true });
const identity = await loadIdentity(paths.dataDir);
const logged: string[] = [];
const logger = await createLogger(paths.logsDir, { stdout: new Writable({ write: (chunk, _encoding, done) => (logged.push(String(chunk)), done()) }) });
const operatorKey = randomBytes(32);
const node = await startNode({ settings: configured.settings, tls, store, identity, logger, version: '0.1.0', operatorKey });
t.teardown(() => node.close());
const port = node.http.port;
// Read before any timer runs: the warm-up after the start would compile what was left.
const coldAtStart = coldValidators();

t.test("a started node keeps a tick queue entry alive, so that nextTick keeps its fast path through the node's rests", async (t) => {
  t.ok(tickShapeKept());
});

t.test("a started node has not loaded fastify's default compilers: its own validator checks bodies, and it declares no response schemas", async (t) => {
  const loaded = Object.keys(createRequire(import.meta.url).cache);
  t.ok(loaded.some((path) => path.includes('/node_modules/fastify/')), 'fastify itself is loaded (the check looks in the right place)');
  // fastify's error serializer needs fast-json-stringify's small runtime (lib/serializer.js), not its compiler.
  t.same(loaded.filter((path) => /@fastify\/(ajv-compiler|fast-json-stringify-compiler)\/|\/fast-json-stringify\/index\.js$/.test(path)), []);
});

t.test('GET / with the right password answers the node info', async (t) => {
  const response = await httpsJson({ port, ca: tls.httpCaPem, auth: 'elastic:right-password-1' });
  t.equal(response.status, 200);
  t.same(response.body, { name: 'node-a', cluster_name: 'securenode', cluster_uuid: identity.clusterUuid, version: { number: '0.1.0' }, tagline: 'Secure on first start' });
});

t.test('no credentials or a wrong password: 401 with WWW-Authenticate, and a log line without the password', async (t) => {
  for (const auth of [undefined, 'elastic:wrong-password', 'ghost:right-password-1']) {
    const response = await httpsJson({ port, ca: tls.httpCaPem, ...(auth ? { auth } : {}), path: '/_cluster/health' });
    t.equal(response.status, 401, String(auth));
    t.same(response.body, { error: 'Invalid credentials' });
    t.equal(response.headers['www-authenticate'], 'Basic realm="securenode", charset="UTF-8", ApiKey, Bearer realm="securenode"', 'one challenge per scheme');
  }
  t.ok(logged.some((line) => line.includes('"event":"authentication_failed"')));
  t.notOk(logged.some((line) => line.includes('wrong-password') || line.includes('right-password')), 'no password in any log line');
});

t.test('the other routes', async (t) => {
  const auth = 'elastic:right-password-1';
  const me = await httpsJson({ port, ca: tls.httpCaPem, auth, path: '/_security/_authenticate' });
  t.same(me.body, {
    username: 'elastic', roles: ['superuser'], full_name: null, email: null, enabled: true,
    authentication_realm: { name: 'default_native', type: 'native' }, authentication_type: 'realm',
  });
  const health = await httpsJson({ port, ca: tls.httpCaPem, auth, path: '/_cluster/health' });
  t.match(health.body, { cluster_name: 'securenode', status: 'green', number_of_nodes: 1, nodes: [{ id: identity.nodeId, name: 'node-a', state: 'connected' }] });
  const local = await httpsJson({ port, ca: tls.httpCaPem, auth, path: '/_nodes/_local' });
  t.same(local.body, {
    cluster_name: 'securenode',
    nodes: { [identity.nodeId]: { name: 'node-a', version: '0.1.0', roles: ['master', 'data'], http: { publish_address: `127.0.0.1:${port}`, enrollment_addresses: [`127.0.0.1:${port}`] }, transport: { publish_address: `127.0.0.1:${node.transport.port}` } } },
  });
  t.equal((await httpsJson({ port, ca: tls.httpCaPem, auth, path: '/nope' })).status, 404);
});

t.test('/_nodes/_local/stats: the process and the event loop held up since the previous read; a caller needs the endpoint', async (t) => {
  await store.putRole({ id: 'reader', name: 'reader', endpoints: [{ endpoint: '/_nodes/_local', actions: ['read'], negative: false }], entities: [] });
  await store.putUser({ username: 'plain', passwordHash: await hashPassword('plain-password-1'), roles: ['reader'], enabled: true });
  const read = () => httpsJson({ port, ca: tls.httpCaPem, auth: 'elastic:right-password-1', path: '/_nodes/_local/stats' });
  const first = await read();
  t.equal(first.status, 200);
  const stats = (first.body as { nodes: Record<string, any> }).nodes[identity.nodeId];
  t.equal(stats.name, 'node-a');
  t.ok(stats.process.mem.resident_in_bytes > 20 * 2 ** 20 && stats.process.mem.resident_in_bytes < 2 ** 30, 'the resident memory, in bytes');
  t.ok(stats.process.cpu.user_in_millis > 0 && stats.process.uptime_in_millis > 0);
  const delay = stats.event_loop.delay_in_millis;
  t.ok(['max', 'p99', 'p50', 'mean'].every((name) => typeof delay[name] === 'number' && delay[name] >= 0), 'delays in milliseconds, never negative');
  // A stall of this process's event loop (the node runs in it) shows in the next read, and only in that one.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const stalledAt = Date.now();
  while (Date.now() - stalledAt < 120);
  const second = (await read()).body as { nodes: Record<string, any> };
  const after = second.nodes[identity.nodeId].event_loop.delay_in_millis;
  t.ok(after.max >= 90 && after.max < 1000, `the 120 ms stall is seen (${after.max} ms)`);
  t.ok(Date.parse(after.since) > Date.parse(delay.since), 'counted from the previous read');
  const third = (await read()).body as { nodes: Record<string, any> };
  t.ok(third.nodes[identity.nodeId].event_loop.delay_in_millis.max < after.max, 'and not again: the figures start over at each read');
  t.equal((await httpsJson({ port, ca: tls.httpCaPem, path: '/_nodes/_local/stats' })).status, 401);
  const plain = await httpsJson({ port, ca: tls.httpCaPem, auth: 'plain:plain-password-1', path: '/_nodes/_local/stats' });
  t.same([plain.status, plain.body], [403, { error: 'plain, you do not have permissions to read this resource' }], 'a role for /_nodes/_local does not reach its stats');
  t.equal((await httpsJson({ port, ca: tls.httpCaPem, auth: 'plain:plain-password-1', path: '/_nodes/_local' })).status, 200);
});

t.test('every route validator of the node was compiled at build time: none is compiled at the start or by a first request; bodies are still checked', async (t) => {
  t.equal(coldAtStart, 0, 'none left to compile when the node starts');
  t.equal(coldValidators(), 0);
  const extra = await httpsJson({ port, ca: tls.httpCaPem, auth: 'elastic:right-password-1', method: 'PUT', path: '/_security/role/warm', body: { endpoints: [], entities: [], extra: 1 } });
  t.equal(extra.status, 400, 'an unknown field is refused by a validator compiled ahead');
});

t.test('TLS 1.1 is refused; a client trusting another CA is refused', async (t) => {
  const attempt = (options: object) =>
    new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => {
        resolve('connected');
        socket.end();
      });
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
  t.equal(await attempt({ ca: tls.httpCaPem }), 'connected');
  t.not(await attempt({ ca: tls.httpCaPem, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), 'connected');
  t.equal(await attempt({ ca: tls.transportCaPem }), 'SELF_SIGNED_CERT_IN_CHAIN', 'the chain ends in the HTTP CA, which this client does not trust');
});

t.test('transport: mutual TLS with the transport CA only', async (t) => {
  const cluster = { cluster_name: 'securenode', cluster_uuid: identity.clusterUuid };
  const mine = { pfx: tls.transportP12, passphrase: tls.transportP12Password, ca: [tls.transportCaPem] };
  const hello = await transportHandshake(node.transport.port, mine, cluster);
  t.match(hello, { node: { id: identity.nodeId, holds_store: true }, peers: [] }, 'the cluster handshake is answered with the node');
  t.equal(
    await transportHandshake(node.transport.port, mine, { cluster_name: 'securenode', cluster_uuid: 'another-uuid' }),
    `error handshake refused: this node is in cluster 'securenode' (${identity.clusterUuid}); the peer named 'securenode' (another-uuid)`,
    'another cluster uuid: refused, with the reason',
  );
  t.equal(String(await transportHandshake(node.transport.port, { ca: [tls.transportCaPem] }, cluster)), 'error the connection closed', 'no client certificate: refused');
  const stranger = await generateTlsMaterial({ nodeName: 'stranger', subjectAltNames: [] });
  // In TLS 1.3 the client may finish before the server's verdict arrives: it sees the alert or a bare close, never an answer.
  const refused = await transportHandshake(node.transport.port, { pfx: stranger.transportP12, passphrase: stranger.passwords.transport }, cluster);
  t.ok(['error the connection closed', 'error ERR_SSL_TLSV13_ALERT_UNKNOWN_CA', 'error ECONNRESET'].includes(String(refused)), `a certificate from another CA is refused (${JSON.stringify(refused)})`);
});

function post(options: { path: string; body: string; authorization: string; host?: string }) {
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const outgoing = httpsRequest(
      { host: options.host ?? '127.0.0.1', port, path: options.path, method: 'POST', servername: 'localhost', ca: tls.httpCaPem, agent: false, headers: { authorization: options.authorization, 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

t.test('the password route: operator tokens once, from loopback; validation; permissions', async (t) => {
  await store.putUser({ username: 'reader', passwordHash: await hashPassword('reader-password-1'), roles: ['read-only'], enabled: true });
  const path = '/_security/user/reader/_password';
  const token = createOperatorToken(operatorKey, 'POST', path);
  const changed = await post({ path, body: JSON.stringify({ password: 'reader-password-2' }), authorization: `Operator ${token}` });
  t.same(changed, { status: 200, body: {} });
  t.equal((await httpsJson({ port, ca: tls.httpCaPem, auth: 'reader:reader-password-2', path: '/_security/_authenticate' })).status, 200);
  const replay = await post({ path, body: JSON.stringify({ password: 'reader-password-3' }), authorization: `Operator ${token}` });
  t.equal(replay.status, 401, 'a token is single-use');
  const wrongPath = await post({ path: '/_security/user/elastic/_password', body: JSON.stringify({ password: 'x'.repeat(12) }), authorization: `Operator ${createOperatorToken(operatorKey, 'POST', path)}` });
  t.equal(wrongPath.status, 401, 'a token is bound to its path');

  const basic = (auth: string) => `Basic ${Buffer.from(auth).toString('base64')}`;
  t.same(await post({ path, body: JSON.stringify({ password: 'short' }), authorization: basic('elastic:right-password-1') }), { status: 400, body: { error: "invalid field 'password': must NOT have fewer than 12 characters" } });
  t.same(await post({ path, body: JSON.stringify({}), authorization: basic('elastic:right-password-1') }), { status: 400, body: { error: "invalid field 'password': must have required property 'password'" } });
  t.same(await post({ path: '/_security/user/elastic/_password', body: JSON.stringify({ password: 'reader-takes-over' }), authorization: basic('reader:reader-password-2') }), { status: 403, body: { error: 'reader, you do not have permissions to create this resource' } });
  t.same(await post({ path, body: JSON.stringify({ password: 'reader-password-4' }), authorization: basic('reader:reader-password-2') }), { status: 200, body: {} }, 'a user changes their own password');
  t.same(await post({ path: '/_security/user/ghost/_password', body: JSON.stringify({ password: 'x'.repeat(12) }), authorization: basic('elastic:right-password-1') }), { status: 404, body: { error: 'user [ghost] not found' } });
});

const external = Object.values(networkInterfaces()).flat().find((address) => address && address.family === 'IPv4' && !address.internal)?.address;
t.test('an operator token from a non-loopback address is refused', { skip: !external && 'no non-loopback IPv4 address here' }, async (t) => {
  const other = await startNode({ settings: configured.settings.withValues(new Map<string, string | number>([['http.host', external!], ['http.port', 0], ['transport.port', 0]])), tls, store, identity, logger, version: '0.1.0', operatorKey });
  t.teardown(() => other.close());
  const path = '/_security/user/reader/_password';
  const refused = await new Promise<number>((resolve, reject) => {
    const outgoing = httpsRequest(
      { host: external, port: other.http.port, path, method: 'POST', servername: 'localhost', ca: tls.httpCaPem, agent: false, headers: { authorization: `Operator ${createOperatorToken(operatorKey, 'POST', path)}`, 'content-type': 'application/json' } },
      (response) => (response.resume(), resolve(response.statusCode ?? 0)),
    );
    outgoing.on('error', reject);
    outgoing.end(JSON.stringify({ password: 'y'.repeat(12) }));
  });
  t.equal(refused, 401);
});

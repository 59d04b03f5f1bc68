// The fastify plugin and the Express middleware, each in front of a real app
// on its own port, guarded by a securenode started in this process: the same
// decisions as forward auth, on the path the client sent (an Express router's
// mount point included), whatever its spelling.
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import fc from 'fast-check';
import t from 'tap';
import { securenodeExpress, securenodeFastify, startSecurenode, type Securenode } from '../../src/index.js';
import { httpsJson } from '../helpers/https.js';

const password = 'plugins-password-123';
const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });

async function securenode(t: { testdir(): string; teardown(fn: () => unknown): void }): Promise<Securenode> {
  const node = await startSecurenode({
    home: `${t.testdir()}/home`,
    settings: ['http.port=0', 'transport.port=0', 'http.host=127.0.0.1'],
    env: { ELASTIC_PASSWORD: password },
    stdout: sink(),
    stderr: sink(),
    // CI runs as root; here the refusal is tested below.
    allowRoot: true,
  });
  t.teardown(() => node.close());
  const call = (method: string, path: string, body: unknown) => httpsJson({ port: node.http.port, ca: node.tls.httpCaPem, method, path, auth: `elastic:${password}`, body });
  await call('PUT', '/_security/role/reader', { endpoints: [{ endpoint: '/api/reports', actions: ['read'] }, { endpoint: '/reports', actions: ['read'] }] });
  await call('PUT', '/_security/role/mount-blind', { endpoints: [{ endpoint: '/reports', actions: ['*'] }] });
  await call('PUT', '/_security/user/ada', { password: 'ada-password-123', roles: ['reader'] });
  await call('PUT', '/_security/user/eve', { password: 'eve-password-123', roles: ['mount-blind'] });
  return node;
}

const basic = (credential: string) => `Basic ${Buffer.from(credential).toString('base64')}`;

async function get(port: number, path: string, credential?: string, method = 'GET') {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: credential ? { authorization: basic(credential) } : {} });
  return { status: response.status, body: await response.text(), challenge: response.headers.get('www-authenticate') };
}

t.test('startSecurenode refuses root unless allowRoot', { skip: process.geteuid?.() !== 0 ? 'not running as root' : false }, async (t) => {
  await t.rejects(startSecurenode({ home: `${t.testdir()}/home`, stdout: sink(), stderr: sink() }), { code: 'ERR_ROOT', message: /must not run as root/ });
});

t.test('Express: the middleware decides on req.originalUrl, so a router mount point cannot hide a path', async (t) => {
  const node = await securenode(t);
  const app = express();
  const router = express.Router();
  router.get('/reports', (request, response) => {
    response.json({ for: (request as unknown as { securenode: { user: { username: string; roles: string[] } } }).securenode.user });
  });
  app.use('/api', securenodeExpress(node), router);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const port = (server.address() as AddressInfo).port;
  t.same(await get(port, '/api/reports', 'ada:ada-password-123'), { status: 200, body: '{"for":{"username":"ada","roles":["reader"]}}', challenge: null });
  const anonymous = await get(port, '/api/reports');
  t.same([anonymous.status, JSON.parse(anonymous.body)], [401, { error: 'Invalid credentials' }]);
  t.match(anonymous.challenge, /^Basic realm="securenode"/);
  t.equal((await get(port, '/api/reports', 'eve:eve-password-123')).status, 403, "a role for /reports does not reach the router's /api/reports");
  t.equal((await get(port, '/api/reports', 'ada:ada-password-123', 'DELETE')).status, 403, 'a reader that deletes');
});

t.test('fastify: every spelling of a path is decided as the path; the identity reaches the route', async (t) => {
  const node = await securenode(t);
  const app = Fastify();
  await app.register(securenodeFastify, { node, public: ['/health'] });
  app.get('/health', async () => ({ ok: true }));
  app.get('/reports', async (request) => ({ for: request.securenode!.user.username }));
  app.get('/secret', async () => ({ secret: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const port = (app.server.address() as AddressInfo).port;
  t.same(await get(port, '/health'), { status: 200, body: '{"ok":true}', challenge: null }, 'a public path');
  t.same(await get(port, '/reports', 'ada:ada-password-123'), { status: 200, body: '{"for":"ada"}', challenge: null });
  t.equal((await get(port, '/no-such-route')).status, 401, 'an unknown path still needs a credential (nothing is revealed)');
  t.equal((await get(port, '/health/../secret', 'ada:ada-password-123')).status, 403, 'no route around by dot segments');
  // Public means exactly that path, however it is spelled: '/secret' spelled to look like '/health' is not.
  await fc.assert(
    fc.asyncProperty(fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), fc.boolean(), async (encode, upper) => {
      const spelled = `/${[...'secret'].map((letter, index) => (encode[index] ? `%${letter.charCodeAt(0).toString(16)[upper ? 'toUpperCase' : 'toLowerCase']()}` : letter)).join('')}`;
      const [anonymous, reader] = [await get(port, spelled), await get(port, spelled, 'ada:ada-password-123')];
      return anonymous.status === 401 && reader.status === 403;
    }),
    { numRuns: 30 },
  );
});

// Attack: reach a service behind the node with roles that do not name it, in
// every enforce mode; spell a denied path another way. The gateway and forward
// auth must decide alike, by endpoint rows on the decoded path, in every mode
// but off (entity rows cannot name a service's paths).
import { createServer } from 'node:http';
import fc from 'fast-check';
import t from 'tap';
import { authorizeEndpoint, type EndpointPermission } from '../../src/security/rbac-matcher.js';
import { canonicalPath } from '../../src/node/authorization.js';
import { inProcessNode } from '../helpers/in-process-node.js';

async function upstream(t: { teardown(fn: () => unknown): void }) {
  const seen: string[] = [];
  const server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    response.end(JSON.stringify({ user: request.headers['x-securenode-user'] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { seen, port: (server.address() as { port: number }).port };
}

for (const mode of ['on', 'entity', 'both', 'off'] as const) {
  t.test(`enforce ${mode}: a role with entity rows only ${mode === 'off' ? 'reaches' : 'does not reach'} the service; endpoint rows decide the rest`, async (t) => {
    const app = await upstream(t);
    const { call, admin } = await inProcessNode(t, mode, { overrides: [`gateway.routes=[{name: svc, path: /svc, upstream: "http://127.0.0.1:${app.port}"}]`] });
    await call('PUT', '/_security/role/entities-only', admin, { endpoints: [], entities: [{ entity_id: '*', entity_type: 'wildcard', actions: ['*'] }] });
    await call('PUT', '/_security/role/svc-reader', admin, { endpoints: [{ endpoint: '/svc/*', actions: ['read'] }], entities: [] });
    await call('PUT', '/_security/user/eve', admin, { password: 'eve-password-123', roles: ['entities-only'] });
    await call('PUT', '/_security/user/ada', admin, { password: 'ada-password-123', roles: ['svc-reader'] });
    const open = mode === 'off';
    const eve = await call('GET', '/svc/reports', 'eve:eve-password-123');
    t.equal(eve.status, open ? 200 : 403, 'eve at the gateway');
    const eveForward = await call('GET', '/_auth/forward', 'eve:eve-password-123', undefined, '127.0.0.1', { 'x-original-uri': '/svc/reports', 'x-original-method': 'GET' });
    t.equal(eveForward.status, open ? 200 : 403, 'eve at forward auth');
    t.equal((await call('GET', '/svc/reports', 'ada:ada-password-123')).status, 200, 'a reader reads');
    t.equal((await call('POST', '/svc/reports', 'ada:ada-password-123', {})).status, open ? 200 : 403, 'a reader that writes');
    t.equal((await call('GET', '/svc/reports')).status, 401, 'no credential: 401 in every mode');
    t.same(app.seen, open ? ['GET /svc/reports', 'GET /svc/reports', 'POST /svc/reports'] : ['GET /svc/reports'], 'the service saw only what was allowed');
  });
}

t.test('random rows, random spellings: the gateway, forward auth and the matcher on the decoded path agree, and the service sees only what is allowed', async (t) => {
  const app = await upstream(t);
  const { call, admin } = await inProcessNode(t, 'on', { overrides: [`gateway.routes=[{name: svc, path: /svc, upstream: "http://127.0.0.1:${app.port}"}]`] });
  t.equal((await call('PUT', '/_security/role/rnd', admin, { endpoints: [], entities: [] })).status, 200);
  t.equal((await call('PUT', '/_security/user/rnd', admin, { password: 'rnd-password-123', roles: ['rnd'] })).status, 200);
  const segment = fc.constantFrom('a', 'é', 'x y');
  const row = fc.record({ endpoint: fc.array(fc.oneof(segment, fc.constant('*')), { minLength: 1, maxLength: 2 }).map((parts) => `/svc/${parts.join('/')}`), actions: fc.subarray(['read', 'create', 'update', 'delete'] as const, { minLength: 1 }), negative: fc.boolean() });
  let allowedCount = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 4 }), fc.array(segment, { minLength: 1, maxLength: 2 }), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), async (rows, parts, method, encodeAt) => {
      if ((await call('PUT', '/_security/role/rnd', admin, { endpoints: rows, entities: [] })).status !== 200) return false;
      // Each character percent-encoded (its UTF-8 bytes) or not, as the choices say; a space or a non-ASCII character always is.
      const spell = (char: string, index: number) => (encodeAt[index % 8] || !/^[a-z*]$/.test(char) ? [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16)}`).join('') : char);
      const spelled = `/svc/${parts.map((part) => [...part].map(spell).join('')).join('/')}`;
      const decoded = canonicalPath(spelled)!;
      const expected = authorizeEndpoint(rows as EndpointPermission[], method, decoded).allowed;
      const before = app.seen.length;
      const gateway = await call(method, spelled, 'rnd:rnd-password-123', method === 'GET' || method === 'DELETE' ? undefined : {});
      const forward = await call('GET', '/_auth/forward', 'rnd:rnd-password-123', undefined, '127.0.0.1', { 'x-original-uri': spelled, 'x-original-method': method });
      if (expected) allowedCount++;
      return gateway.status === (expected ? 200 : 403) && forward.status === (expected ? 200 : 403) && app.seen.length === before + (expected ? 1 : 0);
    }),
    { numRuns: 100 },
  );
  t.ok(allowedCount > 0 && allowedCount < 100, `both decisions were exercised (${allowedCount} of 100 allowed)`);
});

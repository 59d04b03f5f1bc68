// Users, roles and RBAC through HTTPS against a node started in this process
// (so that the route code counts in coverage), with its audit log.
import { networkInterfaces } from 'node:os';
import t, { type Test } from 'tap';
import { inProcessNode, superPassword } from '../helpers/in-process-node.js';

async function node(t: Test, enforce: string, httpHost = '127.0.0.1') {
  return inProcessNode(t, enforce, { httpHost });
}

t.test('the user API: create, read, 400s that name the field, 403 and 401 in their exact words', async (t) => {
  const { call, admin } = await node(t, 'on');
  t.match(await call('PUT', '/_security/user/alice', admin, { password: 'alice-password-1', roles: ['read-only'], full_name: 'Alice A', email: 'a@example.org', metadata: { team: 'ops' } }), { status: 200, body: { created: true } });
  const read = await call('GET', '/_security/user/alice', admin);
  t.match(read.body, { alice: { username: 'alice', roles: ['read-only'], full_name: 'Alice A', email: 'a@example.org', metadata: { team: 'ops' }, enabled: true } });
  t.notMatch(JSON.stringify(read.body), /argon2|password/, 'no hash and no password in the answer');
  t.equal((await call('GET', '/', 'alice:alice-password-1')).status, 200, 'read-only reads');

  const invalid: [unknown, string][] = [
    [{ password: 'short', roles: [] }, "invalid field 'password': must NOT have fewer than 12 characters"],
    [{ password: 'long-enough-pass' }, "invalid field 'roles': must have required property 'roles'"],
    [{ password: 'long-enough-pass', roles: [], shoe_size: 44 }, "invalid field 'shoe_size': must NOT have additional properties"],
    [{ password: 'long-enough-pass', roles: [1] }, "invalid field 'roles.0': must be string"],
    [{ password: 'long-enough-pass', roles: ['nope'] }, "invalid field 'roles': unknown role [nope]; create it with PUT /_security/role/{name}"],
    [{ roles: ['admin'] }, "invalid field 'password': a new user needs a password"],
  ];
  for (const [body, error] of invalid) t.same((await call('PUT', '/_security/user/bob', admin, body)).body, { error }, error);
  t.equal((await call('GET', '/_security/user/bob', admin)).status, 404, 'nothing half-written');
  t.equal((await call('PUT', '/_security/user/_hidden', admin, { password: 'long-enough-pass', roles: [] })).status, 400, 'names starting with _ are kept for internal principals');

  const alice = 'alice:alice-password-1';
  t.same((await call('PUT', '/_security/user/bob', alice, { password: 'bob-password-12', roles: [] })).body, { error: 'alice, you do not have permissions to update this resource' });
  t.same((await call('POST', '/_security/api_key', alice, { name: 'k' })).body, { error: 'alice, you do not have permissions to create this resource' });
  t.same((await call('DELETE', '/_security/user/elastic', alice)).body, { error: 'alice, you do not have permissions to delete this resource' });
  t.equal((await call('POST', '/_security/user/alice/_password', alice, { password: 'alice-password-2' })).status, 200, 'anyone may change their own password');
  const wrong = await call('GET', '/', alice);
  t.same([wrong.status, wrong.body], [401, { error: 'Invalid credentials' }], 'the old password is refused at once');
  t.equal((await call('GET', '/_security/_authenticate', 'alice:alice-password-2')).status, 200);
});

t.test('disable, enable, delete: out at once, cached credentials included; the reserved user stays', async (t) => {
  const { call, admin } = await node(t, 'on');
  await call('PUT', '/_security/user/carol', admin, { password: 'carol-password-1', roles: ['admin'] });
  const carol = 'carol:carol-password-1';
  t.equal((await call('GET', '/', carol)).status, 200, 'authenticated once: now cached');
  t.same((await call('PUT', '/_security/user/carol/_disable', admin)).body, {});
  t.equal((await call('GET', '/', carol)).status, 401, 'disabled: refused at once');
  await call('PUT', '/_security/user/carol/_enable', admin);
  t.equal((await call('GET', '/', carol)).status, 200);
  t.same((await call('GET', '/_security/user', carol)).body, { error: 'carol, you do not have permissions to read this resource' }, 'admin cannot manage users');
  t.same((await call('DELETE', '/_security/user/carol', admin)).body, { found: true });
  t.equal((await call('GET', '/', carol)).status, 401, 'deleted: refused at once');
  t.same((await call('DELETE', '/_security/user/carol', admin)).body, { found: false });
  t.equal((await call('DELETE', '/_security/user/elastic', admin)).status, 400, 'elastic is reserved');
  t.equal((await call('PUT', '/_security/user/elastic/_disable', admin)).status, 400, 'nobody disables themselves');
  t.same(Object.keys((await call('GET', '/_security/user', admin)).body as object), ['elastic']);
});

t.test('roles: endpoint permissions as Kong matches them; built-ins fixed; ?force to delete a held role', async (t) => {
  const { call, admin, store } = await node(t, 'on');
  const role = { description: 'health only', endpoints: [{ endpoint: '*', actions: ['read'], negative: true }, { endpoint: '/_cluster/health', actions: ['read'] }, { endpoint: '/_security/user/*', actions: ['read'] }] };
  t.same((await call('PUT', '/_security/role/health', admin, role)).body, { role: { created: true } });
  t.same((await call('PUT', '/_security/role/health', admin, role)).body, { role: { created: false } });
  t.match((await call('GET', '/_security/role/health', admin)).body, { health: { description: 'health only', endpoints: [{ endpoint: '*', negative: true }, { endpoint: '/_cluster/health', negative: false }, {}], entities: [], metadata: {} } });
  t.match((await call('GET', '/_security/role/superuser', admin)).body, { superuser: { metadata: { _reserved: true } } });
  await call('PUT', '/_security/user/dave', admin, { password: 'dave-password-12', roles: ['health'] });
  const dave = 'dave:dave-password-12';
  t.equal((await call('GET', '/_cluster/health', dave)).status, 200, 'specificity beats polarity');
  t.equal((await call('GET', '/', dave)).status, 403, 'the negative * denies the rest');
  t.equal((await call('GET', '/_security/user/dave', dave)).status, 200, '/_security/user/* covers one segment');
  t.equal((await call('GET', '/_security/user', dave)).status, 403, '... and not its parent');

  t.same((await call('PUT', '/_security/role/superuser', admin, role)).body, { error: 'role [superuser] is built in and cannot be changed or deleted' });
  t.equal((await call('DELETE', '/_security/role/read-only', admin)).status, 400);
  t.same((await call('PUT', '/_security/role/bad', admin, { endpoints: [{ endpoint: '/x', actions: ['fly'] }] })).body, { error: "invalid field 'endpoints.0.actions.0': must be equal to one of the allowed values" });
  t.same((await call('PUT', '/_security/role/bad', admin, { entities: [{ entity_id: 'x', actions: ['read'] }] })).body, { error: "invalid field 'entities.0.entity_type': must have required property 'entity_type'" });
  t.equal((await call('GET', '/_security/role/bad', admin)).status, 404, 'nothing half-written');
  const listed = (await call('GET', '/_security/role', admin)).body as Record<string, { metadata: object }>;
  t.same(Object.keys(listed), ['superuser', 'admin', 'read-only', 'health']);
  t.same(listed.superuser!.metadata, { _reserved: true });

  const held = await call('DELETE', '/_security/role/health', admin);
  t.same([held.status, held.body], [409, { error: 'role [health] is held by [dave]; delete it with ?force to take it from them too' }]);
  t.same((await call('DELETE', '/_security/role/health?force', admin)).body, { found: true });
  t.same(store.getUser('dave')!.roles, [], 'taken from its holder in the same write');
  t.equal((await call('GET', '/_cluster/health', dave)).status, 403, 'no roles, no access');
});

t.test('entity permissions (enforce: entity): by id, negative wins, lists drop what cannot be read', async (t) => {
  const { call, admin, store } = await node(t, 'entity');
  await call('PUT', '/_security/user/erin', admin, { password: 'erin-password-12', roles: [] });
  const erinId = store.getUser('erin')!.id!;
  const notErin = { entities: [{ entity_id: '*', entity_type: 'wildcard', actions: ['*'] }, { entity_id: erinId, entity_type: 'user', actions: ['*'], negative: true }] };
  await call('PUT', '/_security/role/not-erin', admin, notErin);
  await call('PUT', '/_security/user/frank', admin, { password: 'frank-password-1', roles: ['not-erin'] });
  const frank = 'frank:frank-password-1';
  t.same((await call('GET', '/_security/user/erin', frank)).body, { error: 'frank, you do not have permissions to read this resource' }, 'managing security needs endpoint rows in entity mode too');
  t.equal((await call('GET', '/_security/user/elastic', frank)).status, 403, 'entity rows alone open no security endpoint');
  // With endpoint rows for the security API, entity rows decide which entities.
  await call('PUT', '/_security/role/not-erin', admin, { ...notErin, endpoints: [{ endpoint: '*', actions: ['*'] }] });
  t.same((await call('GET', '/_security/user/erin', frank)).body, { error: 'frank, you do not have permissions to read this resource' });
  t.equal((await call('GET', '/_security/user/elastic', frank)).status, 200);
  t.same(Object.keys((await call('GET', '/_security/user', frank)).body as object).sort(), ['elastic', 'frank'], 'erin is silently left out');
  t.equal((await call('PUT', '/_security/user/erin/_disable', frank)).status, 403);
  t.equal((await call('GET', '/_cluster/health', frank)).status, 200, 'entity mode does not check endpoints');
  await call('PUT', '/_security/role/no-roles', admin, { endpoints: [{ endpoint: '*', actions: ['*'] }], entities: [{ entity_id: '*', entity_type: 'wildcard', actions: ['read'] }] });
  await call('PUT', '/_security/user/gus', admin, { password: 'gus-password-123', roles: ['no-roles'] });
  t.equal((await call('DELETE', '/_security/role/not-erin?force', 'gus:gus-password-123')).status, 403, 'read on every entity is not delete');
  const key = (await call('POST', '/_security/api_key', admin, { name: 'k1' })).body as { id: string };
  t.same((await call('DELETE', '/_security/api_key', 'gus:gus-password-123', { ids: [key.id] })).body, { error: 'gus, you do not have permissions to delete this resource' });
  t.same(((await call('GET', '/_security/api_key', 'gus:gus-password-123')).body as { api_keys: { id: string }[] }).api_keys.map((entry) => entry.id), [key.id]);
});

t.test('enforce off: authentication still required, anything goes but managing security, a warning at start', async (t) => {
  const { call, admin, logged } = await node(t, 'off');
  await call('PUT', '/_security/user/gina', admin, { password: 'gina-password-12', roles: ['read-only'] });
  t.same((await call('PUT', '/_security/user/hank', 'gina:gina-password-12', { password: 'hank-password-12', roles: [] })).body, { error: 'gina, you do not have permissions to update this resource' }, 'managing security needs its permission in every mode');
  await call('PUT', '/_security/user/hank', admin, { password: 'hank-password-12', roles: [] });
  t.equal((await call('GET', '/_cluster/health', 'hank:hank-password-12')).status, 200, 'a user without roles reaches the rest');
  t.equal((await call('GET', '/')).status, 401);
  t.ok(logged.some((line) => line.includes('"level":40') && line.includes('"event":"rbac_off"')));
});

t.test('audit.log: JSON lines with time, event, user, source and request id, and no secret', async (t) => {
  const { call, admin, auditLines } = await node(t, 'on');
  await call('PUT', '/_security/user/ivy', admin, { password: 'ivy-password-123', roles: ['read-only'] });
  await call('GET', '/', 'ivy:wrong-password-9');
  await call('PUT', '/_security/role/r', 'ivy:ivy-password-123', {});
  await call('POST', '/_security/user/ivy/_password', admin, { password: 'ivy-password-456' });
  await call('PUT', '/_security/role/r', admin, {});
  const lines = await auditLines();
  for (const line of lines) t.match(line, { time: String, event: String, source: '127.0.0.1', request_id: /^[0-9a-f-]{36}-[0-9a-z]+$/ });
  const events = lines.map((line) => `${String(line.event)}:${String(line.user)}`);
  for (const expected of ['authentication_success:elastic', 'user_created:elastic', 'authentication_failed:ivy', 'access_denied:ivy', 'password_changed:elastic', 'role_created:elastic']) t.ok(events.includes(expected), expected);
  const text = JSON.stringify(lines);
  for (const secret of [superPassword, 'ivy-password-123', 'ivy-password-456', 'wrong-password-9']) t.notMatch(text, secret, 'no password in the audit log');
});

t.test('failed logins from one address are slowed, more with each failure; other addresses are not', async (t) => {
  const { call, admin } = await node(t, 'on', '0.0.0.0');
  const timed = async (auth: string, host?: string) => {
    const started = performance.now();
    const { status } = await call('GET', '/', auth, undefined, host);
    return { status, ms: performance.now() - started };
  };
  // Four failures cost nothing; the next four wait 100, 200, 400 and 800 ms: the ninth waits 1600 ms.
  for (let failure = 0; failure < 8; failure++) t.equal((await timed('elastic:wrong-password-0')).status, 401);
  const slowed = await timed('elastic:wrong-password-0');
  t.equal(slowed.status, 401);
  t.ok(slowed.ms >= 1500, `the 9th failure waited ${Math.round(slowed.ms)} ms`);
  const other = Object.values(networkInterfaces()).flat().find((address) => address && address.family === 'IPv4' && !address.internal)?.address;
  if (other) {
    const elsewhere = await timed('elastic:wrong-password-0', other);
    t.equal(elsewhere.status, 401);
    t.ok(elsewhere.ms < 1000, `another address (${other}) was not slowed: ${Math.round(elsewhere.ms)} ms`);
  }
  const right = await timed(admin);
  t.equal(right.status, 200, 'the right password still works from the slowed address, after the wait');
});

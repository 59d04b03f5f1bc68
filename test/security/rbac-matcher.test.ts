import fc from 'fast-check';
import t from 'tap';
import { actionFor, authorizeEndpoint, authorizeEntity, builtInRoles, candidateEndpoints, normalizeEndpoint, type Action, type EndpointPermission } from '../../src/security/rbac-matcher.js';

const row = (endpoint: string, actions: (Action | '*')[], negative = false): EndpointPermission => ({ endpoint, actions, negative });

t.test('methods map to actions; endpoints are normalized', async (t) => {
  t.same(['GET', 'head', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'].map(actionFor), ['read', 'read', 'read', 'create', 'update', 'update', 'delete']);
  t.equal(normalizeEndpoint(' services/foo/ '), '/services/foo');
  t.equal(normalizeEndpoint('*'), '*');
  t.equal(normalizeEndpoint('/x//'), '/x');
});

t.test("candidates in Kong's order", async (t) => {
  t.same(candidateEndpoints('/a/b/c'), ['/a/b/c', '/a/b/*', '/a/*/*', '/*/*/*', '*']);
  t.same(candidateEndpoints('/_security/user/bob/_password', '/_security/user/:name/_password'), [
    '/_security/user/bob/_password', '/_security/user/*/_password', '/_security/user/bob/*', '/_security/user/*/*', '/_security/*/*/*', '/*/*/*/*', '*',
  ]);
  t.same(candidateEndpoints('/x?y=1'), ['/x', '/*', '*']);
});

t.test('the cases of reference A4', async (t) => {
  const cases: [string, EndpointPermission[], string, string, boolean][] = [
    ['specificity beats polarity: positive /services/foo beats negative *', [row('*', ['*'], true), row('/services/foo', ['read'])], 'GET', '/services/foo', true],
    ['specificity beats polarity: negative /rbac/* beats positive *', [row('*', ['*']), row('/rbac/*', ['*'], true)], 'GET', '/rbac/users', false],
    ['/x/* is not recursive', [row('/rbac/*', ['*'])], 'GET', '/rbac/users/x/roles', false],
    ['/x/* covers one segment', [row('/rbac/*', ['*'])], 'DELETE', '/rbac/users', true],
    ['an uncovered action falls through to the next candidate', [row('/users/bob', ['read']), row('*', ['delete'])], 'DELETE', '/users/bob', true],
    ['... and is denied when nothing further covers it', [row('/users/bob', ['read'])], 'DELETE', '/users/bob', false],
    ['an entry with no actions denies', [row('/users/bob', []), row('*', ['*'])], 'GET', '/users/bob', false],
    ['a negative from any role wins at the same entry', [row('/users/*', ['read']), row('/users/*', ['read'], true)], 'GET', '/users/bob', false],
    ['no match is a denial', [row('/other', ['*'])], 'GET', '/users', false],
    ['no roles, no access', [], 'GET', '/', false],
    ['* is the last candidate', [row('*', ['read'])], 'GET', '/', true],
  ];
  for (const [name, permissions, method, path, allowed] of cases) t.equal(authorizeEndpoint(permissions, method, path).allowed, allowed, name);
});

t.test('built-in roles', async (t) => {
  t.equal(authorizeEndpoint(builtInRoles.superuser.endpoints, 'DELETE', '/_security/user/bob').allowed, true);
  t.equal(authorizeEndpoint(builtInRoles.admin.endpoints, 'PUT', '/_cluster/settings').allowed, true);
  t.equal(authorizeEndpoint(builtInRoles.admin.endpoints, 'GET', '/_security/user').allowed, false, 'admin cannot manage users');
  t.equal(authorizeEndpoint(builtInRoles.admin.endpoints, 'POST', '/_security/user/bob/_password', '/_security/user/:name/_password').allowed, false);
  t.equal(authorizeEndpoint(builtInRoles.admin.endpoints, 'DELETE', '/_security/role/r1').allowed, false, 'admin cannot manage roles');
  t.equal(authorizeEndpoint(builtInRoles["read-only"].endpoints, 'GET', '/_cluster/health').allowed, true);
  t.equal(authorizeEndpoint(builtInRoles["read-only"].endpoints, 'POST', '/_security/api_key').allowed, false);
});

t.test('property: nothing is allowed that a negative entry at the most specific matching endpoint denies', async (t) => {
  const segment = fc.constantFrom('a', 'b', 'c', '*');
  const endpoint = fc.oneof(fc.constant('*'), fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => `/${parts.join('/')}`));
  const permission = fc.record({ endpoint, actions: fc.subarray(['read', 'create', 'update', 'delete', '*'] as const), negative: fc.boolean() });
  const roles = fc.array(fc.array(permission, { maxLength: 5 }), { minLength: 1, maxLength: 4 });
  const request = fc.record({ method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), path: fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 }).map((parts) => `/${parts.join('/')}`) });
  fc.assert(
    fc.property(roles, request, (roleSet, { method, path }) => {
      const permissions = roleSet.flat();
      const action = actionFor(method);
      const covers = (p: EndpointPermission) => p.actions.includes('*') || p.actions.includes(action);
      const present = new Set(permissions.map((p) => normalizeEndpoint(p.endpoint)));
      // The most specific candidate at which some entry covers the action, or holds no actions at all.
      const decisive = candidateEndpoints(path).find(
        (candidate) => permissions.some((p) => normalizeEndpoint(p.endpoint) === candidate && covers(p)) || (present.has(candidate) && permissions.filter((p) => normalizeEndpoint(p.endpoint) === candidate).every((p) => p.actions.length === 0)),
      );
      const deniedThere = decisive !== undefined && permissions.some((p) => normalizeEndpoint(p.endpoint) === decisive && p.negative && covers(p));
      const decision = authorizeEndpoint(permissions, method, path);
      return !(deniedThere && decision.allowed) && (decision.allowed ? decision.decidedBy === decisive : true);
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random role sets');
});

t.test('entity permissions (Kong A5): the id, then *; a negative wins at the first that covers the action', async (t) => {
  const row = (entity_id: string, actions: ('read' | 'create' | 'update' | 'delete' | '*')[], negative = false) => ({ entity_id, entity_type: entity_id === '*' ? ('wildcard' as const) : ('user' as const), actions, negative });
  const cases: [string, ReturnType<typeof row>[], Action, boolean][] = [
    ['no rows, no access', [], 'read', false],
    ['* allows', [row('*', ['*'])], 'delete', true],
    ['the id beats *', [row('*', ['*']), row('u1', ['*'], true)], 'read', false],
    ['a positive id beats a negative *', [row('*', ['*'], true), row('u1', ['read'])], 'read', true],
    ['an id row for other actions falls through to *', [row('u1', ['read']), row('*', ['delete'], true)], 'delete', false],
    ['negative wins at the same id, across roles', [row('u1', ['read']), row('u1', ['read'], true)], 'read', false],
    ['another id does not apply', [row('u2', ['*'])], 'read', false],
  ];
  for (const [name, rows, action, allowed] of cases) t.equal(authorizeEntity(rows, 'u1', action), allowed, name);
});

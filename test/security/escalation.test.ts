// The escalation rule's shortcut: a caller that holds everything is let through
// without probes. It must never let through a caller that lacks something:
// generated roles (negatives, rows without actions, '*' rows, specific rows
// that cover fewer actions) against every probe and generated requests.
import fc from 'fast-check';
import t from 'tap';
import { allowsOf, holdsEverything, probesFor, type RouteShape } from '../../src/security/escalation.js';
import { allActions, builtInRoles, type Action, type EndpointPermission, type EntityPermission, type RoleDefinition } from '../../src/security/rbac-matcher.js';

const routes: RouteShape[] = [
  { method: 'GET', pattern: '/' },
  { method: 'PUT', pattern: '/_security/user/:name' },
  { method: 'DELETE', pattern: '/_security/user/:name' },
  { method: 'POST', pattern: '/_security/user/:name/_password' },
  { method: 'GET', pattern: '/_security/role/:name' },
  { method: 'POST', pattern: '/_security/api_key' },
];
const actionsArb = fc.oneof(fc.constant(['*'] as (Action | '*')[]), fc.subarray([...allActions] as (Action | '*')[]));
const endpointArb: fc.Arbitrary<EndpointPermission> = fc.record({
  endpoint: fc.constantFrom('*', ' * ', '*/', '/', '/_security/user/*', '/_security/user/elastic', '/_security/*/*', '/_security/user/*/_password', '/x'),
  actions: actionsArb,
  negative: fc.boolean(),
});
const entityArb: fc.Arbitrary<EntityPermission> = fc.record({ entity_id: fc.constantFrom('*', 'elastic', 'some-id'), entity_type: fc.constant('user' as const), actions: actionsArb, negative: fc.boolean() });
// Weighted towards what a superuser-like role looks like, so that both answers are common.
const roleArb: fc.Arbitrary<RoleDefinition> = fc.record({
  endpoints: fc.oneof(fc.array(endpointArb, { maxLength: 4 }), fc.array(endpointArb, { maxLength: 2 }).map((rows) => [{ endpoint: '*', actions: ['*'] as (Action | '*')[], negative: false }, ...rows])),
  entities: fc.oneof(fc.array(entityArb, { maxLength: 3 }), fc.array(entityArb, { maxLength: 1 }).map((rows) => [{ entity_id: '*', entity_type: 'wildcard' as const, actions: ['*'] as (Action | '*')[], negative: false }, ...rows])),
});
const pathArb = fc.array(fc.constantFrom('_security', 'user', 'role', 'elastic', '_password', 'x', '*', ''), { minLength: 1, maxLength: 5 }).map((segments) => `/${segments.join('/')}`);

t.test('the superuser holds everything; admin and read-only do not', async (t) => {
  t.ok(holdsEverything([builtInRoles.superuser]));
  t.notOk(holdsEverything([builtInRoles.admin]));
  t.notOk(holdsEverything([builtInRoles['read-only']]));
  t.notOk(holdsEverything([]), 'no role holds nothing');
  t.notOk(holdsEverything([builtInRoles.superuser, { endpoints: [{ endpoint: '/_security/user/elastic', actions: ['update'], negative: true }], entities: [] }]), 'one negative row anywhere is enough to decide by probes');
});

t.test('whoever holds everything by the shortcut is allowed every probe and every generated request and entity action (fast-check)', async (t) => {
  let holders = 0;
  fc.assert(
    fc.property(fc.array(roleArb, { minLength: 1, maxLength: 3 }), fc.array(roleArb, { maxLength: 2 }), fc.array(fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), pathArb), { maxLength: 20 }), (roles, others, requests) => {
      if (!holdsEverything(roles)) return true;
      holders++;
      const allows = allowsOf(roles);
      const probes = probesFor(routes, [...roles, ...others]);
      if (!probes.every((probe) => allows(probe))) return false;
      if (!requests.every(([method, path]) => allows({ kind: 'endpoint', method, path }))) return false;
      return ['elastic', 'some-id', 'other'].every((entityId) => allActions.every((action) => allows({ kind: 'entity', entityId, action })));
    }),
    { numRuns: 2000 },
  );
  t.ok(holders > 100, `the shortcut was taken in ${holders} of 2000 runs`);
});

// The route's kept decision (Authorizer.routeDecider) against a fresh authorizer's
// answer, over generated sequences of requests and role changes: the same role list
// object asking again after its roles changed, the same names in another array, an
// API key's limit, other methods and paths, routes whose pattern is a candidate, and
// every enforce mode. A kept answer that outlives what it was decided on fails here.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { Authorizer, type EnforceMode } from '../../src/security/authorizer.js';
import { FileStore } from '../../src/security/file-store.js';
import type { Action, EndpointPermission, RoleDefinition } from '../../src/security/rbac-matcher.js';

const names = ['r0', 'r1', 'r2', 'superuser', 'read-only', 'missing'];
const actionsArb = fc.oneof(fc.constant(['*'] as (Action | '*')[]), fc.subarray(['read', 'create', 'update', 'delete'] as (Action | '*')[], { minLength: 1 }));
const endpointArb: fc.Arbitrary<EndpointPermission> = fc.record({
  endpoint: fc.constantFrom('*', '/', '/_security/user/*', '/_security/user/:name', '/_security/user/elastic', '/_security/*/*', '/x', '/x/*'),
  actions: actionsArb,
  negative: fc.boolean(),
});
const definitionArb: fc.Arbitrary<RoleDefinition> = fc.record({ endpoints: fc.array(endpointArb, { maxLength: 4 }), entities: fc.constant([]) });
// Few of each, so that a route is often asked the same thing again, and as often something that differs in one part only.
const pathArb = fc.constantFrom('/', '/x', '/x/y', '/_security/user/elastic', '/X');
const methodArb = fc.constantFrom('GET', 'DELETE', 'PUT');
/** Routes as the node registers them: a pattern, and whether it is checked in every mode. */
const routes: { pattern: string | undefined; always: boolean }[] = [
  { pattern: '/', always: false },
  { pattern: '/_security/user/:name', always: true },
  { pattern: '/x/*', always: false },
  { pattern: undefined, always: true },
];

type Step =
  | { kind: 'ask'; list: number; limit: number | undefined; method: string; path: string; route: number }
  | { kind: 'change'; name: 'r0' | 'r1' | 'r2'; definition: RoleDefinition };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('ask' as const), list: fc.nat(3), limit: fc.option(fc.nat(3), { nil: undefined }), method: methodArb, path: pathArb, route: fc.nat(routes.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('change' as const), name: fc.constantFrom('r0' as const, 'r1' as const, 'r2' as const), definition: definitionArb }) },
);

t.test("a route's kept decision is always the answer a fresh authorizer gives (fast-check)", async (t) => {
  const root = t.testdir();
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<EnforceMode>('on', 'both', 'entity', 'off'),
      // Four role lists: two the very same array, one the same names in an array of its own, one other.
      fc.array(fc.subarray(names), { minLength: 2, maxLength: 2 }),
      fc.array(stepArb, { minLength: 20, maxLength: 80 }),
      async (mode, contents, steps) => {
        const dir = join(root, `run-${run++}`);
        await mkdir(dir);
        const store = await FileStore.open(dir);
        for (const name of ['r0', 'r1', 'r2']) await store.putRole({ id: name, name, endpoints: [{ endpoint: '*', actions: ['read'], negative: false }], entities: [] });
        const lists: readonly string[][] = [contents[0]!, contents[0]!, [...contents[0]!], contents[1]!];
        const authorizer = new Authorizer(store, mode);
        const deciders = routes.map((route) => authorizer.routeDecider(route.pattern, route.always));
        for (const step of steps) {
          if (step.kind === 'change') {
            await store.putRole({ id: step.name, name: step.name, ...step.definition });
            continue;
          }
          const roles = lists[step.list]!;
          const limitedBy = step.limit === undefined ? undefined : lists[step.limit]!;
          const route = routes[step.route]!;
          const expected = new Authorizer(store, mode).endpointAllowed(limitedBy === undefined ? { roles } : { roles, limitedBy }, step.method, step.path, route.pattern, route.always);
          if (deciders[step.route]!(roles, limitedBy, step.method, step.path) !== expected) return false;
        }
        return true;
      },
    ),
    { numRuns: 200 },
  );
});

t.test('a role list asking again after its role changed gets the new answer, on the same route and path', async (t) => {
  const store = await FileStore.open(t.testdir());
  await store.putRole({ id: 'r0', name: 'r0', endpoints: [{ endpoint: '/', actions: ['read'], negative: false }], entities: [] });
  const roles = ['r0'];
  const allowed = new Authorizer(store, 'on').routeDecider('/', false);
  t.equal(allowed(roles, undefined, 'GET', '/'), true);
  await store.putRole({ id: 'r0', name: 'r0', endpoints: [{ endpoint: '/', actions: ['read'], negative: true }], entities: [] });
  t.equal(allowed(roles, undefined, 'GET', '/'), false, 'a negative row takes effect at once');
  t.equal(allowed(roles, ['read-only'], 'GET', '/'), false);
  await store.putRole({ id: 'r0', name: 'r0', endpoints: [{ endpoint: '*', actions: ['*'], negative: false }], entities: [] });
  t.equal(allowed(roles, undefined, 'DELETE', '/'), true);
  t.equal(allowed(roles, ['read-only'], 'DELETE', '/'), false, "an API key's limit is part of what was decided");
  t.equal(allowed(roles, undefined, 'DELETE', '/'), true);
});

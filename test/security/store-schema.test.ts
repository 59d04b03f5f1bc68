import fc from 'fast-check';
import t from 'tap';
import type { StoreData, StoreOp } from '../../src/security/store.js';
import { applyInPlace } from '../../src/security/store-ops.js';
import { noteWrites, storeShapeError, writtenShapeError } from '../../src/security/store-schema.js';
import type { Written } from '../../src/security/change-reads.js';

// An entry must sit under its own name (a user under its username, an API key under its id, ...): a file edited by hand
// or by an attacker that puts one entry under another's name would make a lookup find what it does not name.

const user = (username: string) => ({ username, passwordHash: '$argon2id$x', roles: [], enabled: true });
/** Names as a hand-edited or hostile file may hold them: prototype names among them. */
const name = fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'elastic'));

t.test('the first entry under a name that is not its own is named, wherever it is; a store without one passes', async (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 30 }), fc.option(fc.nat()), fc.string({ minLength: 1, maxLength: 8 }), (names, misplace, other) => {
      // Built as JSON.parse builds a file's store: '__proto__' an own entry like any other.
      const entries = names.map((key, index) => [key, index === (misplace ?? -1) % names.length && other !== key ? user(other) : user(key)] as const);
      const users = JSON.parse(`{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',')}}`) as Record<string, { username: string }>;
      const data = { version: 1, users };
      const wrong = Object.keys(users).find((key) => users[key]!.username !== key);
      const said = storeShapeError(data);
      if (wrong === undefined) return said === undefined;
      return said === `the entry under '${wrong.slice(0, 64)}' names another`;
    }),
    { numRuns: 2000 },
  );
  t.pass('2,000 generated stores');
});

t.test('every record is checked by its own field', async (t) => {
  const role = { id: 'r1', name: 'admins', endpoints: [], entities: [] };
  t.equal(storeShapeError({ version: 1, users: {}, roles: { admins: role } }), undefined);
  t.equal(storeShapeError({ version: 1, users: {}, roles: { superuser: role } }), "the entry under 'superuser' names another");
  t.equal(storeShapeError({ version: 1, users: { ['x'.repeat(100)]: user('y') } }), `the entry under '${'x'.repeat(64)}' names another`, 'a long name is cut at 64 characters');
});

// At a start with a log, only the entries the log's changes wrote are checked again (the base was checked whole): a
// log line that leaves the store of the wrong shape must be refused exactly when the whole check would refuse it.
const ids = ['a', 'b', '__proto__'];
const validUser = (username: string, roles: readonly string[] = []) => ({ username, passwordHash: '$argon2id$x', roles, enabled: true });
const apiKey = (id: string, invalidated = false) => ({ id, name: id, secretHash: 'h', creator: 'a', ownerId: 'id-a', scope: 'all', created: 1, invalidated });
const session = (id: string) => ({ id, secretHash: 'h', username: 'a', userId: 'id-a', credential: 'c', csrf: 'x', created: 1, lastSeen: 1 });
const role = (name: string) => ({ id: `role-${name}`, name, endpoints: [], entities: [] });
const opArbitrary = fc.oneof(
  // Changes as the node makes them.
  fc.record({ name: fc.constantFrom(...ids), roles: fc.subarray(['r0', 'r1']) }).map(({ name, roles }) => ({ op: 'putUser', user: validUser(name, roles) })),
  fc.constantFrom(...ids).map((username) => ({ op: 'deleteUser', username })),
  fc.constantFrom('r0', 'r1').map((name) => ({ op: 'putRole', role: role(name) })),
  fc.constantFrom('r0', 'r1').map((name) => ({ op: 'deleteRole', name })),
  fc.record({ id: fc.constantFrom(...ids), invalidated: fc.boolean() }).map(({ id, invalidated }) => ({ op: 'putApiKeys', keys: [apiKey(id, invalidated)] })),
  fc.constantFrom(...ids).map((id) => ({ op: 'putSession', session: session(id) })),
  fc.subarray(ids).map((list) => ({ op: 'deleteSessions', ids: list })),
  // Log lines as a damaged or hostile file may hold them.
  fc.constantFrom(...ids).map((name) => ({ op: 'putUser', user: { ...validUser(name), roles: 'superuser' } })),
  fc.constantFrom(...ids).map((name) => ({ op: 'putUser', user: { ...validUser(name), enabled: 'yes', admin: true } })),
  fc.constantFrom('r0', 'r1').map((name) => ({ op: 'putRole', role: { ...role(name), endpoints: 'all' } })),
  fc.constantFrom(...ids).map((id) => ({ op: 'putApiKeys', keys: [{ ...apiKey(id), scope: 7 }] })),
  fc.constant({ op: 'putApiKeys', keys: 'ab' }),
  fc.constant({ op: 'deleteSessions', ids: 'ab' }),
  fc.constantFrom(...ids).map((id) => ({ op: 'putSession', session: { id } })),
);

t.test("after a log, checking what its changes wrote refuses exactly what checking the whole store refuses", async (t) => {
  fc.assert(
    fc.property(fc.subarray(ids), fc.subarray(ids), fc.boolean(), fc.array(opArbitrary, { maxLength: 6 }), (users, keys, withRole, ops) => {
      const base = `{"version":1,"users":{${users.map((name) => `${JSON.stringify(name)}:${JSON.stringify(validUser(name, withRole ? ['r0'] : []))}`).join(',')}},"apiKeys":{${keys.map((id) => `${JSON.stringify(id)}:${JSON.stringify(apiKey(id))}`).join(',')}}${withRole ? `,"roles":{"r0":${JSON.stringify(role('r0'))}}` : ''}}`;
      const data = JSON.parse(base) as StoreData;
      if (storeShapeError(data) !== undefined) throw new Error(`a generated base is not valid: ${storeShapeError(data)}`);
      try {
        for (const op of ops) applyInPlace(data, op as StoreOp);
      } catch {
        return true; // Not applicable: the open refuses it before any check.
      }
      // Noted as the open notes them.
      const writes = new Map<string, Written>();
      for (const op of ops) noteWrites(writes, op as StoreOp);
      const written = writtenShapeError(data, writes.values());
      const whole = storeShapeError(data);
      return (written === undefined) === (whole === undefined);
    }),
    { numRuns: 3000 },
  );
  t.pass('3,000 generated bases and logs');
});

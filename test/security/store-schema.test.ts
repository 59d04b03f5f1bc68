import fc from 'fast-check';
import t from 'tap';
import { storeShapeError } from '../../src/security/store-schema.js';

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

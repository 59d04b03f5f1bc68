import fc from 'fast-check';
import t from 'tap';
import { applyInPlace, applyStoreOp } from '../../src/security/store-ops.js';
import type { StoreData, StoreOp, StoredUser } from '../../src/security/store.js';

/** Entries in key order (values may have no prototype, so never compared as text). */
const byKey = <T>(entries: [string, T][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

// Names that an object would take for its own machinery: each must be an entry like any other.
const names = fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'ada', 'bea');
const role = fc.constantFrom('__proto__', 'ops', 'valueOf');
const user = fc.record({ username: names, id: fc.constantFrom('i1', 'i2', 'i3'), passwordHash: fc.string({ maxLength: 4 }), roles: fc.uniqueArray(role, { maxLength: 2 }), enabled: fc.boolean() });
const op: fc.Arbitrary<StoreOp> = fc.oneof(
  user.map((value): StoreOp => ({ op: 'putUser', user: value })),
  names.map((username): StoreOp => ({ op: 'deleteUser', username })),
  role.map((name): StoreOp => ({ op: 'putRole', role: { name, id: name, endpoints: [], entities: [] } })),
  role.map((name): StoreOp => ({ op: 'deleteRole', name })),
  fc.record({ id: names, creator: names, ownerId: fc.constantFrom('i1', 'i2', 'i3') }).map(({ id, creator, ownerId }): StoreOp => ({ op: 'putApiKeys', keys: [{ id, name: id, secretHash: 'h', creator, ownerId, scope: 'all', created: 0, invalidated: false }] })),
);

/** The same meaning, on Maps: what the records must behave like whatever the names. */
function model(ops: readonly StoreOp[]) {
  const users = new Map<string, StoredUser>();
  const roles = new Set<string>();
  const keys = new Map<string, boolean>();
  const owners = new Map<string, string>();
  for (const change of ops) {
    if (change.op === 'putUser') users.set(change.user.username, change.user);
    if (change.op === 'deleteUser' && users.has(change.username)) {
      const removed = users.get(change.username)!;
      users.delete(change.username);
      for (const [id, owner] of owners) if (owner === removed.id) keys.set(id, true);
    }
    if (change.op === 'putRole') roles.add(change.role.name);
    if (change.op === 'deleteRole') {
      roles.delete(change.name);
      for (const [name, value] of users) if (value.roles.includes(change.name)) users.set(name, { ...value, roles: value.roles.filter((held) => held !== change.name) });
    }
    if (change.op === 'putApiKeys') for (const key of change.keys) (keys.set(key.id, key.invalidated), owners.set(key.id, key.ownerId!));
  }
  return { users: byKey([...users]), roles: [...roles].sort(), keys: byKey([...keys]) };
}

t.test("a change in place means what it means on Maps, for names such as __proto__; the records' prototype never moves", async (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
      const data: StoreData = { version: 1, users: {} };
      for (const change of ops) applyInPlace(data, change);
      const got = { users: byKey(Object.entries(data.users)), roles: Object.keys(data.roles ?? {}).sort(), keys: byKey(Object.entries(data.apiKeys ?? {}).map(([id, key]): [string, boolean] => [id, key.invalidated])) };
      const pure = ops.reduce(applyStoreOp, { version: 1, users: {} } as StoreData);
      return (
        JSON.stringify(got) === JSON.stringify(model(ops)) &&
        JSON.stringify(pure) === JSON.stringify(data) &&
        [data.users, data.roles, data.apiKeys].every((record) => record === undefined || Object.getPrototypeOf(record) === Object.prototype) &&
        ({} as Record<string, unknown>).username === undefined
      );
    }),
    { numRuns: 500 },
  );
  const before: StoreData = { version: 1, users: { ada: { username: 'ada', passwordHash: 'h', roles: [], enabled: true } } };
  const after = applyStoreOp(before, { op: 'putUser', user: { username: 'bea', passwordHash: 'h', roles: [], enabled: true } });
  t.same(Object.keys(before.users), ['ada'], 'applyStoreOp leaves what it was given as it was');
  t.same(Object.keys(after.users), ['ada', 'bea']);
});

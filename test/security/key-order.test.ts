import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { isArrayIndex, KeyOrders } from '../../src/security/key-order.js';
import { applyInPlace, storeRecords } from '../../src/security/store-ops.js';
import type { StoreData, StoreOp } from '../../src/security/store.js';
import { storeOp } from '../helpers/store-op-arbitrary.js';

// The fold lists each record's keys from KeyOrders instead of Object.keys: a key it misses is an entry the new base
// loses, and a key out of place a base that differs from the store. So its order is held to V8's own, change by change.

/** Names V8 orders in both ways: array indices (listed first, ascending), and names that only look like numbers. */
const numberish = fc.oneof(
  fc.constantFrom('0', '1', '7', '10', '99', '4294967294', '4294967295', '4294967296', '01', '00', '-1', '1.5', '1e3', ' 1', '+1', '0x1'),
  fc.nat().map(String),
  fc.bigInt({ min: 4_294_967_290n, max: 4_294_967_299n }).map(String),
);
const names = fc.oneof(numberish, fc.constantFrom('ada', 'bea', '__proto__', 'constructor', 'length'), fc.string({ maxLength: 4 }));

const user = (username: string, roles: string[]) => ({ username, id: `id-${username}`, passwordHash: 'h', roles, enabled: true });
const session = (id: string) => ({ id, secretHash: 's', username: 'ada', userId: 'id-ada', credential: 'c', csrf: 'x', created: 0, lastSeen: 0 });

/** Changes that meet: the same names put, deleted and put again, in one change or across changes, and the scans. */
const op: fc.Arbitrary<StoreOp> = fc.oneof(
  storeOp,
  fc.record({ name: names, roles: fc.subarray(['ops', 'audit']) }).map(({ name, roles }): StoreOp => ({ op: 'putUser', user: user(name, roles) })),
  names.map((username): StoreOp => ({ op: 'deleteUser', username })),
  fc.constantFrom('ops', 'audit').map((name): StoreOp => ({ op: 'deleteRole', name })),
  names.map((name): StoreOp => ({ op: 'putRole', role: { name, id: `r-${name}`, endpoints: [], entities: [] } })),
  fc.uniqueArray(names, { maxLength: 3 }).map((ids): StoreOp => ({ op: 'putApiKeys', keys: ids.map((id) => ({ id, name: id, secretHash: 's', creator: 'ada', scope: 'all', created: 0, invalidated: false })) })),
  names.map((id): StoreOp => ({ op: 'putSession', session: session(id) })),
  fc.array(names, { maxLength: 3 }).map((ids): StoreOp => ({ op: 'deleteSessions', ids })),
);

/** A store as a base file gives it: parsed from text, so V8 orders it as it would a loaded store. */
const base: fc.Arbitrary<StoreData> = fc.uniqueArray(names, { maxLength: 8 }).map((usernames) =>
  JSON.parse(JSON.stringify({ version: 1, users: Object.fromEntries(usernames.map((name) => [name, user(name, ['ops'])])), sessions: { '3': session('3'), s: session('s') } })) as StoreData,
);

/** Whether every record's keys are kept in V8's order. */
const inOrder = (orders: KeyOrders, data: StoreData) => storeRecords.every((name) => isDeepStrictEqual(orders.keys(name), Object.keys(data[name] ?? {})));

/** Take `change` as the file store does: each part in place, then noted. */
function take(orders: KeyOrders, data: StoreData, change: readonly StoreOp[]): void {
  for (const each of change) {
    applyInPlace(data, each);
    orders.took(data, each);
  }
}

t.test('after any changes, each made of several, every record\'s keys are listed exactly as Object.keys lists them', (t) => {
  fc.assert(
    fc.property(base, fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { maxLength: 30 }), (data, changes) => {
      const orders = new KeyOrders(data);
      return changes.every((change) => {
        take(orders, data, change);
        return inOrder(orders, data);
      });
    }),
    { numRuns: 300 },
  );
  t.pass('300 runs of up to 30 changes');
  t.end();
});

t.test('a name is an array index exactly when V8 lists it before the other names', (t) => {
  fc.assert(
    fc.property(fc.oneof(numberish, fc.string({ maxLength: 12 }), fc.stringMatching(/^[0-9]{1,12}$/)), (key) => {
      const probe: Record<string, number> = { zz: 1 };
      probe[key] = 2;
      return isArrayIndex(key) === (key !== 'zz' && Object.keys(probe)[0] === key);
    }),
    { numRuns: 2_000 },
  );
  t.pass('2,000 names');
  t.end();
});

t.test('a store of 100,000 users: the order kept is the same array Object.keys gives, among names and indices both', (t) => {
  const users: Record<string, unknown> = {};
  const data = { version: 1, users } as unknown as StoreData;
  for (let index = 0; index < 100_000; index++) users[index % 10 === 0 ? String(100_000 - index) : `user${index}`] = {};
  const orders = new KeyOrders(data);
  for (const [index, name] of ['user5', '90000', 'user7', 'new', '5'].entries()) take(orders, data, [index % 2 === 0 ? { op: 'deleteUser', username: name } : { op: 'putUser', user: user(name, []) }]);
  t.strictSame(orders.keys('users'), Object.keys(users));
  t.end();
});

t.test('a scan that writes under a name its entry does not hold (a store the shape check would refuse) is listed again from the record', (t) => {
  const data = { version: 1, users: { a: user('b', ['ops']), c: user('c', ['ops']) } } as unknown as StoreData;
  const orders = new KeyOrders(data);
  take(orders, data, [{ op: 'deleteRole', name: 'ops' }]);
  t.strictSame(orders.keys('users'), ['a', 'c', 'b'], 'the entry the scan added is listed');
  t.strictSame(orders.keys('users'), Object.keys(data.users));
  t.end();
});

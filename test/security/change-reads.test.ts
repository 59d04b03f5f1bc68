import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { LandedWrites, maxKeysRead, meets, meetsWrites, readAgain, readSetFrom, trackReads, writesOf, type ReadSet } from '../../src/security/change-reads.js';
import { storeRecords } from '../../src/security/store-ops.js';
import type { StoreData, StoreOp, StoredUser } from '../../src/security/store.js';
import { applyAll } from '../../src/security/store-ops.js';

// The holder takes a replica's change worked out from an older store when what
// landed since touched nothing it read or writes. That is sound only if, then,
// working the change out again from the newer store gives the same change and
// the same answer: what is checked here, for stores, landed changes and
// mutations generated at random.

const names = ['u0', 'u1', 'u2', 'u3', '__proto__'];
const keyIds = ['k0', 'k1', 'k2'];
const sessionIds = ['s0', 's1', 's2'];
const user = (username: string, n = 0, roles: string[] = []): StoredUser => ({ username, id: `id-${username}`, passwordHash: 'hash', roles, enabled: true, metadata: { n } });

const storeArbitrary = fc.record({
  users: fc.subarray(names).map((present) => Object.fromEntries(present.map((name) => [name, user(name)]))),
  apiKeys: fc.option(fc.subarray(keyIds).map((present) => Object.fromEntries(present.map((id, index) => [id, { id, name: id, secretHash: 'h', creator: names[index]!, ownerId: `id-${names[index]}`, scope: 'all' as const, created: 1, invalidated: false }]))), { nil: undefined }),
  sessions: fc.option(fc.subarray(sessionIds).map((present) => Object.fromEntries(present.map((id, index) => [id, { id, secretHash: 'h', username: names[index]!, userId: `id-${names[index]}`, credential: 'c', csrf: 'x', created: 1, lastSeen: 1 }]))), { nil: undefined }),
  roles: fc.option(fc.constant({ r0: { id: 'role-r0', name: 'r0', cluster: [], indices: [], endpoints: [], entities: [] } }), { nil: undefined }),
}).map((records) => {
  const data: StoreData = { version: 1, users: {} };
  // Through the same entry-setting the store uses, so that a user named __proto__ is an entry like any other.
  return applyAll(data, [
    ...Object.values(records.users).map((entry) => ({ op: 'putUser' as const, user: entry })),
    ...(records.apiKeys ? [{ op: 'putApiKeys' as const, keys: Object.values(records.apiKeys) }] : []),
    ...Object.values(records.sessions ?? {}).map((session) => ({ op: 'putSession' as const, session })),
    ...Object.values(records.roles ?? {}).map((role) => ({ op: 'putRole' as const, role: role as never })),
  ]);
});

/** A change another node made meanwhile: any kind, on the same few names, so that they meet the mutations' reads often. */
const landedArbitrary: fc.Arbitrary<StoreOp> = fc.oneof(
  fc.record({ name: fc.constantFrom(...names), n: fc.nat(5) }).map(({ name, n }) => ({ op: 'putUser' as const, user: user(name, n) })),
  fc.constantFrom(...names).map((username) => ({ op: 'deleteUser' as const, username })),
  fc.constantFrom(...keyIds).map((id) => ({ op: 'putApiKeys' as const, keys: [{ id, name: id, secretHash: 'h', creator: 'u0', ownerId: 'id-u0', scope: 'all' as const, created: 2, invalidated: true }] })),
  fc.constantFrom(...sessionIds).map((id) => ({ op: 'putSession' as const, session: { id, secretHash: 'h', username: 'u1', userId: 'id-u1', credential: 'c', csrf: 'x', created: 2, lastSeen: 2 } })),
  fc.constantFrom(...sessionIds).map((id) => ({ op: 'deleteSessions' as const, ids: [id] })),
  fc.constantFrom('r0', 'r1').map((name) => ({ op: 'putRole' as const, role: { id: `role-${name}`, name, cluster: [], indices: [], endpoints: [], entities: [] } as never })),
  fc.constantFrom('r0', 'r1').map((name) => ({ op: 'deleteRole' as const, name })),
);

/** One step of a mutation: it reads the store one way and writes from what it read, as the routes' mutations do. */
type Step =
  | { kind: 'bump' | 'createIfAbsent' | 'in' | 'count' | 'endSessions' | 'invalidateKeysOf'; name: string }
  | { kind: 'useKey'; id: string }
  | { kind: 'blind'; name: string };
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constantFrom('bump', 'createIfAbsent', 'in', 'count', 'endSessions', 'invalidateKeysOf', 'blind'), name: fc.constantFrom(...names) }) as fc.Arbitrary<Step>,
  fc.record({ kind: fc.constant('useKey' as const), id: fc.constantFrom(...keyIds) }),
);

/** A pure mutation made of steps: the changes and the answer are all it gives, from the store it is handed. */
const mutationOf = (steps: readonly Step[]) => (data: StoreData) => {
  const ops: StoreOp[] = [];
  const result: unknown[] = [];
  for (const step of steps) {
    switch (step.kind) {
      case 'bump': {
        const existing = Object.hasOwn(data.users, step.name) ? data.users[step.name]! : undefined;
        ops.push({ op: 'putUser', user: user(step.name, ((existing?.metadata as { n?: number } | undefined)?.n ?? 0) + 1) });
        result.push(existing !== undefined);
        break;
      }
      case 'createIfAbsent':
        if (!Object.hasOwn(data.users, step.name)) ops.push({ op: 'putUser', user: user(step.name) });
        break;
      case 'in':
        result.push(step.name in data.users && Object.hasOwn(data.users, step.name));
        break;
      case 'count':
        ops.push({ op: 'putUser', user: user(step.name, Object.keys(data.users).length) });
        break;
      case 'endSessions': {
        const ids = Object.values(data.sessions ?? {}).filter((session) => session.username === step.name).map((session) => session.id);
        if (ids.length > 0) ops.push({ op: 'deleteSessions', ids });
        break;
      }
      case 'invalidateKeysOf': {
        const keys = Object.values(data.apiKeys ?? {}).filter((key) => key.creator === step.name && !key.invalidated);
        if (keys.length > 0) ops.push({ op: 'putApiKeys', keys: keys.map((key) => ({ ...key, invalidated: true })) });
        break;
      }
      case 'useKey': {
        // A one-time key: used once, never twice (an enrollment token's replay).
        const stored = data.apiKeys?.[step.id];
        result.push(stored !== undefined && !stored.invalidated);
        if (stored && !stored.invalidated) ops.push({ op: 'putApiKeys', keys: [{ ...stored, invalidated: true }] });
        break;
      }
      case 'blind':
        ops.push({ op: 'putUser', user: user(step.name, 99) });
        break;
    }
  }
  return { ops, result };
};

t.test('a change the holder takes over changes that landed after it was worked out is the change it would work out now: same changes, same answer', async (t) => {
  let taken = 0;
  let refused = 0;
  fc.assert(
    fc.property(storeArbitrary, fc.array(fc.array(landedArbitrary, { minLength: 1, maxLength: 2 }), { maxLength: 4 }), fc.array(stepArbitrary, { minLength: 1, maxLength: 3 }), (before, landed, steps) => {
      const mutation = mutationOf(steps);
      const tracked = trackReads(before);
      const then = mutation(tracked.data);
      const reads = tracked.reads();
      // What goes over the wire, and what the holder makes of it.
      const received = readSetFrom(JSON.parse(JSON.stringify(reads)));
      deepStrictEqual(received, reads, 'the read set survives the wire');
      if (meets(received!, then.ops, landed)) return void refused++;
      taken++;
      const after = applyAll(before, landed.flat());
      const now = mutation(after);
      // Compared as JSON: the same entries in the same order, a user named __proto__ among them.
      deepStrictEqual(JSON.stringify(then), JSON.stringify(now), `taken over ${JSON.stringify(landed)}: the same change and answer from the newer store`);
      deepStrictEqual(JSON.stringify(applyAll(after, then.ops)), JSON.stringify(applyAll(after, now.ops)));
    }),
    { numRuns: 3000 },
  );
  t.pass('3,000 generated: each change taken is the change worked out again from the newer store, with the same answer');
  // Neither way only: the check lets changes through that others did not touch, and stops the rest.
  t.ok(taken > 300 && refused > 300, `taken ${taken}, refused ${refused} of 3000`);
});

t.test('what a mutation reads is noted however it reads: by key, by listing, through an absent record, or by writing', async (t) => {
  const data = applyAll({ version: 1, users: {} }, [{ op: 'putUser', user: user('ada') }, { op: 'putUser', user: user('bea') }]);
  const read = (mutate: (data: StoreData) => unknown) => {
    const tracked = trackReads(data);
    mutate(tracked.data);
    return tracked.reads();
  };
  t.same(read((d) => d.users['ada']), { users: ['ada'] }, 'get');
  t.same(read((d) => Object.hasOwn(d.users, 'cy')), { users: ['cy'] }, 'Object.hasOwn, of an entry that is not there');
  t.same(read((d) => 'bea' in d.users), { users: ['bea'] }, 'in');
  t.same(read((d) => Object.values(d.users)), { users: '*' }, 'a listing is all of it');
  t.same(read((d) => ({ ...d.users })), { users: '*' }, 'so is a spread');
  t.same(read((d) => JSON.stringify(d.users)), { users: '*' });
  t.same(read((d) => d.apiKeys?.['k1']), { apiKeys: '*' }, 'a record not there is all of it: whatever lands in it changes what was seen');
  t.same(read((d) => Object.values(d.sessions ?? {})), { sessions: '*' });
  t.same(read((d) => ({ ...d })), { users: '*', apiKeys: '*', serviceTokens: '*', roles: '*', sessions: '*' }, 'a spread of the store: everything');
  t.same(read((d) => Object.getOwnPropertyDescriptor(d, 'users')), { users: '*' }, 'a descriptor hands out the record itself');
  t.same(read((d) => d.version), {}, 'not a record: nothing');
  t.same(read((d) => void ((d.users as Record<string, unknown>)['x'] = 1)), { users: '*' }, 'a write: all of it');
  t.equal(Object.hasOwn(data.users, 'x'), true, '(it went through: a mutation must not write, and none does)');
  t.same(read((d) => Array.from({ length: maxKeysRead + 1 }, (_, index) => d.users[`n${index}`])), { users: '*' }, `more than ${maxKeysRead} keys: all of it`);
  t.same(read((d) => Array.from({ length: maxKeysRead }, (_, index) => d.users[`n${index}`])).users!.length, maxKeysRead, `${maxKeysRead} keys: listed`);
});

t.test("what a peer's change read, read again through a view of the store, is noted as the peer noted it; on the store itself it changes nothing", async (t) => {
  const readSetArbitrary: fc.Arbitrary<ReadSet> = fc.dictionary(
    fc.constantFrom(...storeRecords),
    fc.oneof(fc.constant('*' as const), fc.uniqueArray(fc.oneof(fc.constantFrom(...names, ...keyIds, ...sessionIds, 'r0'), fc.string()), { maxLength: 8 })),
  ) as fc.Arbitrary<ReadSet>;
  fc.assert(
    fc.property(storeArbitrary, fc.option(readSetArbitrary, { nil: undefined }), (data, reads) => {
      const before = JSON.stringify(data);
      const tracked = trackReads(data);
      readAgain(tracked.data, reads);
      // As noted: each record read by key lists those keys; a record read whole, or not in the store, is all of it; none, nothing.
      const expected = Object.fromEntries(
        (reads === undefined ? storeRecords.map((record) => [record, '*'] as const) : (Object.entries(reads) as [string, readonly string[] | '*'][]))
          .filter(([, keys]) => keys === '*' || keys.length > 0)
          .map(([record, keys]) => [record, keys === '*' || data[record as keyof StoreData] === undefined ? '*' : [...keys].sort()]),
      );
      const noted = Object.fromEntries(Object.entries(tracked.reads()).map(([record, keys]) => [record, keys === '*' ? '*' : [...keys].sort()]));
      deepStrictEqual(noted, expected);
      readAgain(data, reads);
      deepStrictEqual(JSON.stringify(data), before);
    }),
    { numRuns: 500 },
  );
  t.pass('500 generated stores and read sets');
});

t.test('a role changed meanwhile meets every change: the authorizer reads roles outside the store a mutation is handed', async (t) => {
  fc.assert(
    fc.property(fc.array(stepArbitrary, { minLength: 1, maxLength: 3 }), fc.constantFrom<StoreOp>({ op: 'deleteRole', name: 'unread' }, { op: 'putRole', role: { id: 'x', name: 'unread', cluster: [], indices: [], endpoints: [], entities: [] } as never }), (steps, roleChange) => {
      const tracked = trackReads(applyAll({ version: 1, users: {} }, [{ op: 'putUser', user: user('u0') }]));
      const { ops } = mutationOf(steps)(tracked.data);
      deepStrictEqual(meets(tracked.reads(), ops, [[roleChange]]), true);
    }),
    { numRuns: 200 },
  );
  t.pass('200 generated mutations, each met by a role changed meanwhile');
  t.equal(meets({}, [{ op: 'putUser', user: user('a') }], [[{ op: 'putUser', user: user('b') }]]), false, 'two users apart: no');
  t.equal(meets({}, [{ op: 'putUser', user: user('a') }], [[{ op: 'putUser', user: user('a') }]]), true, 'the same user written by both: yes');
  t.equal(meets({}, [{ op: 'putUser', user: user('a') }], [[{ op: 'nonsense' } as never]]), true, 'a change of a kind it does not know: yes');
});

t.test('a read set from a peer is taken only as one: anything else makes the change need the store exactly as it was', async (t) => {
  fc.assert(
    fc.property(fc.anything(), (value) => {
      const taken = readSetFrom(value);
      if (taken === undefined) return;
      // Taken: every record one of the store's, each all of it or at most maxKeysRead names.
      deepStrictEqual(Object.entries(taken).every(([record, keys]) => ['users', 'roles', 'apiKeys', 'serviceTokens', 'sessions'].includes(record) && (keys === '*' || (Array.isArray(keys) && keys.length <= maxKeysRead && keys.every((key) => typeof key === 'string')))), true);
    }),
    { numRuns: 2000 },
  );
  t.pass('2,000 generated values: none taken that is not a read set');
  for (const hostile of [null, [], 'users', { users: 'ada' }, { users: [1] }, JSON.parse('{"__proto__":["x"]}'), { constructor: '*' }, { users: Array(maxKeysRead + 1).fill('a') }, { users: '*', extra: '*' }]) t.equal(readSetFrom(hostile), undefined, JSON.stringify(hostile));
  t.same(readSetFrom({ users: ['ada'], sessions: '*' }), { users: ['ada'], sessions: '*' });
});

t.test('what landed, gathered as it lands (LandedWrites), meets a change exactly when some entry it wrote is one the change read or writes, or a role', async (t) => {
  const entries = [...names, ...keyIds, ...sessionIds, 'r0', 'unread'];
  const readsArbitrary: fc.Arbitrary<ReadSet> = fc.dictionary(fc.constantFrom(...storeRecords), fc.oneof(fc.constant('*' as const), fc.subarray(entries)), { maxKeys: 3 }) as fc.Arbitrary<ReadSet>;
  const roleArbitrary = fc.constantFrom<StoreOp>({ op: 'deleteRole', name: 'unread' }, { op: 'putRole', role: { id: 'x', name: 'r0', cluster: [], indices: [], endpoints: [], entities: [] } as never });
  const changeArbitrary = fc.array(fc.oneof({ weight: 9, arbitrary: landedArbitrary }, { weight: 1, arbitrary: roleArbitrary }), { minLength: 1, maxLength: 2 });
  /** The definition, entry by entry: every entry written against every entry read or written. */
  const reference = (reads: ReadSet, ops: readonly StoreOp[], landed: readonly (readonly StoreOp[])[]): boolean => {
    const mine = [...Object.entries(reads).flatMap(([record, keys]) => (keys === '*' ? [[record, '*']] : keys.map((key) => [record, key]))), ...ops.flatMap(writesOf)];
    return landed.flat().flatMap(writesOf).some(([record, key]) => record === 'roles' || mine.some(([other, otherKey]) => other === record && (key === '*' || otherKey === '*' || key === otherKey)));
  };
  fc.assert(
    fc.property(readsArbitrary, changeArbitrary, fc.array(changeArbitrary, { maxLength: 6 }), (reads, ops, landed) => {
      const gathered = new LandedWrites();
      landed.forEach((change, index) => {
        // After each change lands, as a group commit asks: the same as asking of all that landed so far at once.
        gathered.add(change);
        deepStrictEqual(gathered.meets(reads, ops), reference(reads, ops, landed.slice(0, index + 1)));
      });
      deepStrictEqual(meets(reads, ops, landed), reference(reads, ops, landed));
      deepStrictEqual(meetsWrites(reads, ops, landed.flat().flatMap(writesOf)), reference(reads, ops, landed));
    }),
    { numRuns: 1_000 },
  );
  t.pass('1,000 generated read sets, changes and changes landed');
});

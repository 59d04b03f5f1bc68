import fc from 'fast-check';
import t from 'tap';
import { meets } from '../../src/security/change-reads.js';
import { groupWaiting, Turns, workOutEarly, type Waiting } from '../../src/security/group-commit.js';
import type { Mutation, StoreData } from '../../src/security/store.js';

const data: StoreData = { version: 1, users: { ada: { username: 'ada', id: 'a', passwordHash: 'h', roles: [], enabled: true } }, roles: { ops: { name: 'ops', id: 'r', endpoints: [], entities: [] } } };
const waiting = (mutation: Mutation<unknown>): Waiting => ({ mutation, resolve: () => {}, reject: () => {} });

/** A generated change: reads some users, writes some users (or a role), refuses, or does nothing. */
const change = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), reads: fc.subarray(['ada', 'bea', 'cy']), writes: fc.subarray(['ada', 'bea', 'cy', 'dan'], { minLength: 1 }) }),
  fc.record({ kind: fc.constant('role' as const) }),
  fc.record({ kind: fc.constant('refuse' as const) }),
  fc.record({ kind: fc.constant('nothing' as const) }),
);
type Change = typeof change extends fc.Arbitrary<infer C> ? C : never;
const mutationOf = (generated: Change): Mutation<unknown> => (store) => {
  switch (generated.kind) {
    case 'write':
      for (const name of generated.reads) void Object.hasOwn(store.users, name);
      return { ops: generated.writes.map((name) => ({ op: 'putUser' as const, user: { username: name, id: name, passwordHash: 'h', roles: [], enabled: true } })), result: generated.writes };
    case 'role':
      return { ops: [{ op: 'putRole', role: { name: 'ops', id: 'r', endpoints: [], entities: [] } }], result: 'role' };
    case 'refuse':
      throw new Error('refused');
    case 'nothing':
      return { ops: [], result: 'nothing' };
  }
};

t.test('what goes together: two or more changes, none meeting what an earlier one writes; the rest alone, in the order made; nothing lost or doubled', async (t) => {
  fc.assert(
    fc.property(fc.array(change, { maxLength: 12 }), (changes) => {
      const all = changes.map((generated) => waiting(mutationOf(generated)));
      const { together, alone } = groupWaiting(all, (mutation) => workOutEarly(data, '7', mutation));
      const order = (list: readonly Waiting[]) => list.map((entry) => all.findIndex((candidate) => candidate.mutation === entry.mutation));
      if (together.length === 1) return false;
      if (![...order(together), ...order(alone)].sort((a, b) => a - b).every((index, at) => index === at) || together.length + alone.length !== all.length) return false;
      if (order(together).some((index, at, list) => at > 0 && index < list[at - 1]!) || order(alone).some((index, at, list) => at > 0 && index < list[at - 1]!)) return false;
      // No member meets what the earlier members write; each was worked out from the store as given.
      return together.every((member, at) => member.early !== undefined && member.early.known === '7' && !meets(member.early.reads, member.early.outcome.ops, together.slice(0, at).map((earlier) => earlier.early!.outcome.ops)));
    }),
    { numRuns: 500 },
  );
  t.pass('500 generated turns');
});

t.test('examples: apart together; a read of what an earlier one writes, a refusal, a change after a role change alone; one change alone', async (t) => {
  const write = (reads: string[], writes: string[]) => waiting(mutationOf({ kind: 'write', reads, writes }));
  const [a, b, c, d] = [write([], ['bea']), write(['bea'], ['cy']), write([], ['dan']), waiting(mutationOf({ kind: 'refuse' }))];
  const grouped = groupWaiting([a, b, c, d], (mutation) => workOutEarly(data, '7', mutation));
  t.same(grouped.together.map((entry) => entry.mutation), [a.mutation, c.mutation]);
  t.same(grouped.alone.map((entry) => entry.mutation), [b.mutation, d.mutation]);
  const role = waiting(mutationOf({ kind: 'role' }));
  t.same(groupWaiting([role, a], (mutation) => workOutEarly(data, '7', mutation)), { together: [], alone: [role, a] }, 'a change after a role change: both alone, in the order made');
  t.same(groupWaiting([a, role], (mutation) => workOutEarly(data, '7', mutation)).together.length, 2, 'a role change after a change it does not read: together');
  t.same(groupWaiting([a], (mutation) => workOutEarly(data, '7', mutation)), { together: [], alone: [a] }, 'one change: alone, not worked out');
  t.equal(workOutEarly(data, undefined, a.mutation), undefined, 'a store not loaded yet works nothing out');
  t.equal(workOutEarly(data, '7', waiting(mutationOf({ kind: 'nothing' })).mutation), undefined);
});

t.test('turns: changes made in one tick go in one turn, those made while it runs in the next (at most `max` a turn); one turn at a time, unless one is stuck past waitMs', async (t) => {
  const turns: number[][] = [];
  let ended = 0;
  let release: () => void = () => {};
  const gate = () => new Promise<void>((resolve) => (release = resolve));
  let hold: Promise<void> | undefined;
  const queue = new Turns(
    async (waiting) => {
      turns.push(waiting.map((change) => change.mutation({ version: 1, users: {} }).result as number));
      await hold;
      for (const change of waiting) change.resolve(change.mutation({ version: 1, users: {} }).result);
    },
    () => ended++,
    1_000,
    3,
  );
  const change = (n: number): Mutation<number> => () => ({ ops: [], result: n });
  hold = gate();
  const first = [1, 2, 3, 4].map((n) => queue.add(change(n)));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(turns, [[1, 2, 3]], 'three in the first turn (max 3); the fourth waits for the next');
  t.equal(queue.running, true);
  const later = queue.add(change(5));
  hold = undefined;
  release();
  t.same(await Promise.all([...first, later]), [1, 2, 3, 4, 5], 'each answered with its own result');
  t.same(turns, [[1, 2, 3], [4, 5]], 'the fourth and one made during the first turn, together in the second');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(queue.running, false);
  t.equal(ended, 1, 'ended once, when no turn ran any more');

  // A turn stuck past waitMs does not hold the next.
  const stuck = new Turns(async (waiting) => (waiting[0]!.mutation({ version: 1, users: {} }).result === 1 ? new Promise(() => {}) : waiting[0]!.resolve('done')), () => {}, 50, 1);
  void stuck.add(change(1));
  // (The wait's timer does not keep a process alive by itself: a node's server does.)
  const alive = setTimeout(() => {}, 5_000);
  t.teardown(() => clearTimeout(alive));
  const started = performance.now();
  t.equal(await stuck.add(change(2)), 'done', 'the next turn ran');
  t.ok(performance.now() - started >= 45, 'after waiting for the stuck one');
});

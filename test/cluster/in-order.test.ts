import fc from 'fast-check';
import t from 'tap';
import { InOrder } from '../../src/cluster/in-order.js';
import type { StoreOp } from '../../src/security/store.js';

/** A change that names its number, so that what was taken shows its order. */
const change = (seq: number): StoreOp[] => [{ op: 'deleteUser', username: `change-${seq}` }];
const numberOf = (ops: readonly StoreOp[]) => Number((ops[0] as { username: string }).username.slice('change-'.length));

function replica(epoch = 'boot-1', seq = 0) {
  const taken: number[] = [];
  const ordered = new InOrder((ops) => taken.push(numberOf(ops)));
  ordered.moved({ epoch, seq });
  return { ordered, taken };
}

t.test('changes arriving in any order, repeated or not at all, are taken in the holder order and never past a gap', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      // Each change arrives 0 to 2 times (0: lost), in an order shuffled by the generated keys.
      fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.array(fc.double({ noNaN: true }), { minLength: 2, maxLength: 2 })), { minLength: 40, maxLength: 40 }),
      (count, deliveries) => {
        const { ordered, taken } = replica();
        const arrivals = deliveries
          .slice(0, count)
          .flatMap(([times, keys], index) => keys.slice(0, times).map((key) => ({ seq: index + 1, key })))
          .sort((a, b) => a.key - b.key);
        for (const { seq } of arrivals) {
          const outcome = ordered.offer('boot-1', seq, change(seq));
          if (outcome === 'refused') return false;
        }
        // Taken: exactly 1..k, where k + 1 is the first change that never arrived.
        const arrived = new Set(arrivals.map((arrival) => arrival.seq));
        let k = 0;
        while (k < count && arrived.has(k + 1)) k++;
        return taken.length === k && taken.every((seq, index) => seq === index + 1) && ordered.at!.seq === k && ordered.waitingForGap === arrivals.some((arrival) => arrival.seq > k + 1);
      },
    ),
    { numRuns: 500 },
  );
});

t.test('another boot, no store yet, or not a change: refused, and nothing kept', async (t) => {
  const unplaced = new InOrder(() => t.fail('nothing is taken'));
  t.equal(unplaced.offer('boot-1', 1, change(1)), 'refused', 'no store yet');
  const { ordered, taken } = replica();
  for (const [epoch, seq, ops] of [
    ['boot-2', 1, change(1)],
    ['boot-1', 1.5, change(1)],
    ['boot-1', '2', change(2)],
    ['boot-1', Number.MAX_SAFE_INTEGER + 2, change(3)],
    ['boot-1', 2, { op: 'deleteUser' }],
    [undefined, 2, change(2)],
  ] as const) {
    t.equal(ordered.offer(epoch, seq, ops), 'refused', `${String(epoch)} ${String(seq)}`);
  }
  t.equal(ordered.waitingForGap, false);
  t.same(taken, []);
});

t.test('a peer cannot make a replica keep more than maxAhead changes ahead of a gap', async (t) => {
  const { ordered, taken } = replica();
  for (let seq = 2; seq < 2 + InOrder.maxAhead; seq++) t.equal(ordered.offer('boot-1', seq, change(seq)), 'ahead');
  t.equal(ordered.offer('boot-1', 2 + InOrder.maxAhead, change(0)), 'refused', 'one more: the replica follows the holder instead');
  t.equal(ordered.offer('boot-1', 5, change(5)), 'ahead', 'one already kept, again: still kept');
  t.equal(ordered.offer('boot-1', 1, change(1)), 'taken');
  t.equal(taken.length, 1 + InOrder.maxAhead, 'the gap filled, everything kept taken in order');
  t.ok(taken.every((seq, index) => seq === index + 1));
});

t.test('a store taken whole moves the replica: kept changes it includes go, those after it are taken in turn; another boot drops them all', async (t) => {
  const { ordered, taken } = replica();
  for (const seq of [3, 5, 6, 9]) ordered.offer('boot-1', seq, change(seq));
  ordered.moved({ epoch: 'boot-1', seq: 4 });
  t.same(taken, [5, 6], 'the store at 4: 3 went with it, 5 and 6 taken after it');
  t.same(ordered.at, { epoch: 'boot-1', seq: 6 });
  t.equal(ordered.waitingForGap, true, '9 still waits for 7 and 8');
  ordered.moved({ epoch: 'boot-2', seq: 1 });
  t.equal(ordered.waitingForGap, false, "another boot's store: the first boot's changes dropped");
  t.equal(ordered.offer('boot-2', 2, change(2)), 'taken');
  t.same(taken, [5, 6, 2]);
});

t.test('waiting for a change: true once the changes before it arrive, false when they do not in time, or another boot takes over', async (t) => {
  const { ordered } = replica();
  t.equal(await ordered.reached('boot-1', 0, 10), true, 'had already');
  t.equal(await ordered.reached('boot-2', 1, 10), false, 'of another boot: at once');
  ordered.offer('boot-1', 3, change(3));
  const filled = ordered.reached('boot-1', 3, 1_000);
  setTimeout(() => {
    ordered.offer('boot-1', 2, change(2));
    ordered.offer('boot-1', 1, change(1));
  }, 20);
  const started = performance.now();
  t.equal(await filled, true, 'the gap filled');
  t.ok(performance.now() - started < 500, 'answered when it filled, not at the deadline');
  ordered.offer('boot-1', 5, change(5));
  t.equal(await ordered.reached('boot-1', 5, 30), false, 'change 4 never came');
  const replaced = ordered.reached('boot-1', 5, 1_000);
  ordered.moved({ epoch: 'boot-2', seq: 7 });
  t.equal(await replaced, false, 'another boot of the holder: the wait ends, without the change');
});

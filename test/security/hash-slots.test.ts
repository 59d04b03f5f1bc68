import t from 'tap';
import fc from 'fast-check';
import { hashingLimit, Slots } from '../../src/security/hash-slots.js';

/** A task that finishes (or fails) when the test says, recording when it started. */
interface Pending {
  readonly index: number;
  readonly fails: boolean;
  started: boolean;
  finish?: () => void;
}

t.test('never more than the limit at once, waiting tasks start in order, every result reaches its own caller', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 30 }),
      // Which running task finishes next: an index into the running ones, taken modulo their number.
      fc.array(fc.nat(), { minLength: 30, maxLength: 30 }),
      async (limit, failures, finishOrder) => {
        const slots = new Slots(limit);
        const tasks: Pending[] = failures.map((fails, index) => ({ index, fails, started: false }));
        const startOrder: number[] = [];
        let running = 0;
        let most = 0;
        const results = tasks.map((task) =>
          slots
            .run(
              () =>
                new Promise<number>((resolve, reject) => {
                  task.started = true;
                  startOrder.push(task.index);
                  running++;
                  most = Math.max(most, running);
                  task.finish = () => {
                    running--;
                    if (task.fails) reject(new Error(`task ${task.index}`));
                    else resolve(task.index);
                  };
                }),
            )
            .then(
              (value) => ({ ok: true, value }),
              (error: Error) => ({ ok: false, value: error.message }),
            ),
        );
        let step = 0;
        for (;;) {
          await new Promise((resolve) => setImmediate(resolve));
          const live = tasks.filter((task) => task.started && task.finish);
          const waiting = tasks.filter((task) => !task.started).length;
          // No slot left idle while a task waits for one.
          if (waiting > 0 && live.length < limit) return false;
          if (slots.load.running !== live.length || slots.load.waiting !== waiting) return false;
          if (live.length === 0) break;
          const chosen = live[finishOrder[step++ % finishOrder.length]! % live.length]!;
          chosen.finish!();
          delete chosen.finish;
        }
        const settled = await Promise.all(results);
        return (
          most <= limit &&
          most === Math.min(limit, tasks.length) &&
          startOrder.every((index, position) => index === position) &&
          settled.every((result, index) => (tasks[index]!.fails ? !result.ok && result.value === `task ${index}` : result.ok && result.value === index)) &&
          slots.load.running === 0 &&
          slots.load.waiting === 0
        );
      },
    ),
    { numRuns: 200 },
  );
});

t.test('a task that throws before it returns a promise frees its slot', async (t) => {
  const slots = new Slots(1);
  await t.rejects(
    slots.run(() => {
      throw new Error('at once');
    }),
    { message: 'at once' },
  );
  t.equal(await slots.run(async () => 'next'), 'next');
  t.same(slots.load, { running: 0, waiting: 0 });
});

t.test('a limit is a whole number of at least 1', async (t) => {
  for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => new Slots(limit), { name: 'TypeError', message: `a slot limit is a whole number of at least 1, not ${String(limit)}` });
  }
});

t.test('one hash a core, leaving one of libuv threads free, at least one', async (t) => {
  t.equal(hashingLimit(2, 4), 2);
  t.equal(hashingLimit(8, 4), 3, 'four threads: one left for file writes and DNS');
  t.equal(hashingLimit(8, 16), 8);
  t.equal(hashingLimit(1, 4), 1);
  t.equal(hashingLimit(4, 1), 1, 'a threadpool of one still hashes');
  t.equal(hashingLimit(2, Number.NaN), 2, 'an unreadable UV_THREADPOOL_SIZE is libuv default of 4');
  t.equal(hashingLimit(8, 0), 3);
});

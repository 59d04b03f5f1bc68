// Batched (src/cluster/batched.ts): requests made while a batch is on its way
// go together in the next. Generated runs of requests, answers, failures of a
// whole batch and of one request in it, against what must hold whatever the
// order: one batch on its way at a time, a lone request sent at once, the
// next batch every request waiting (up to the most a batch takes) in the
// order made, and each request settled once, with its own outcome.
import fc from 'fast-check';
import t from 'tap';
import { Batched, type BatchOutcome } from '../../src/cluster/batched.js';

type Step = { kind: 'request'; count: number } | { kind: 'answer'; failing: boolean[] } | { kind: 'fail' };
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('request' as const), count: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ kind: fc.constant('answer' as const), failing: fc.array(fc.boolean(), { maxLength: 12 }) }),
  fc.constant({ kind: 'fail' as const }),
);

t.test('generated runs: one batch on its way at a time; the next takes every request waiting, in order, up to the most; each request settles once with its own outcome', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 40 }), fc.integer({ min: 1, max: 8 }), async (steps, maxBatch) => {
      const sent: { bodies: number[]; settle: (outcomes: BatchOutcome[] | Error) => void }[] = [];
      const batched = new Batched(
        (bodies) =>
          new Promise((resolve, reject) => {
            sent.push({ bodies: bodies as number[], settle: (outcomes) => (outcomes instanceof Error ? reject(outcomes) : resolve(outcomes)) });
          }),
        maxBatch,
      );
      const settled = new Map<number, { answer?: unknown; error?: string }>();
      const expected = new Map<number, { answer?: unknown; error?: string }>();
      let made = 0;
      let waiting: number[] = [];
      let onItsWay: number[] | undefined;
      const flush = () => new Promise((resolve) => setImmediate(resolve));
      /** What must be sent once the batch on its way settles (or at once, when none is): every request waiting, up to maxBatch. */
      const next = () => {
        if (onItsWay !== undefined || waiting.length === 0) return;
        onItsWay = waiting.slice(0, maxBatch);
        waiting = waiting.slice(maxBatch);
      };
      for (const current of steps) {
        if (current.kind === 'request') {
          for (let index = 0; index < current.count; index++) {
            const id = made++;
            waiting.push(id);
            batched.request(id).then(
              (answer) => settled.set(id, settled.has(id) ? { error: 'settled twice' } : { answer }),
              (error: Error) => settled.set(id, settled.has(id) ? { error: 'settled twice' } : { error: error.message }),
            );
            // Sent at once when nothing is on its way: a lone request waits for nothing.
            next();
          }
        } else if (onItsWay !== undefined) {
          const batch = sent.at(-1)!;
          if (current.kind === 'fail') {
            for (const id of onItsWay) expected.set(id, { error: 'the connection closed' });
            batch.settle(new Error('the connection closed'));
          } else {
            const outcomes = batch.bodies.map((id, index) => (current.failing[index] ? { error: new Error(`refused ${id}`) } : { answer: `answer ${id}` }));
            onItsWay.forEach((id, index) => expected.set(id, current.failing[index] ? { error: `refused ${id}` } : { answer: `answer ${id}` }));
            batch.settle(outcomes);
          }
          onItsWay = undefined;
          next();
        }
        await flush();
        // What went is what must have gone: the batches in order, each its requests in the order made.
        const shouldHaveSent = sent.length === 0 ? [] : sent.map((batch) => batch.bodies);
        if (onItsWay !== undefined && JSON.stringify(shouldHaveSent.at(-1)) !== JSON.stringify(onItsWay)) return false;
        if (sent.some((batch) => batch.bodies.length > maxBatch || batch.bodies.length === 0)) return false;
      }
      await flush();
      // Settled: exactly those whose batch was answered or failed, each with its own outcome; the others still wait.
      if (JSON.stringify([...settled.entries()].sort(([a], [b]) => a - b)) !== JSON.stringify([...expected.entries()].sort(([a], [b]) => a - b))) return false;
      // Every request sent once, in the order made.
      const order = sent.flatMap((batch) => batch.bodies);
      return JSON.stringify(order) === JSON.stringify(order.slice().sort((a, b) => a - b)) && new Set(order).size === order.length;
    }),
    { numRuns: 500 },
  );
});

t.test('an answer with fewer outcomes than requests fails those it lacks, saying so', async (t) => {
  const batched = new Batched(async (bodies) => (bodies.length === 1 ? [{ answer: 'one' }] : [{ answer: 'first' }]), 8);
  const lone = batched.request('a');
  const together = ['b', 'c', 'd'].map((body) => batched.request(body));
  t.equal(await lone, 'one', 'the first alone, at once');
  t.equal(await together[0], 'first');
  await t.rejects(together[1]!, { message: "the batch's answer has 1 outcomes for 3 requests" });
  await t.rejects(together[2]!, { message: "the batch's answer has 1 outcomes for 3 requests" });
});

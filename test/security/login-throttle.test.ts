import t from 'tap';
import { LoginThrottle } from '../../src/security/login-throttle.js';

t.test('a bounded delay that doubles with each failure past the free ones, per address', async (t) => {
  const throttle = new LoginThrottle({ free: 2, baseMs: 100, maxMs: 1000, windowMs: 60_000 });
  const delays: number[] = [];
  for (let failure = 0; failure < 8; failure++) {
    delays.push(throttle.delayFor('10.0.0.1', 1000));
    throttle.fail('10.0.0.1', 1000);
  }
  t.same(delays, [0, 0, 0, 100, 200, 400, 800, 1000]);
  t.equal(throttle.delayFor('10.0.0.2', 1000), 0, 'another address is not slowed');
  t.equal(throttle.delayFor('10.0.0.1', 1000 + 60_001), 0, 'forgotten after the window');
  throttle.fail('10.0.0.1', 1000 + 60_002);
  t.equal(throttle.delayFor('10.0.0.1', 1000 + 60_003), 0, 'and counted afresh');
});

t.test('the number of addresses remembered is bounded; the oldest go first', async (t) => {
  const throttle = new LoginThrottle({ free: 0, maxEntries: 2 });
  for (const address of ['a', 'b', 'c']) throttle.fail(address, 1);
  t.equal(throttle.delayFor('a', 2), 0, 'a was dropped');
  t.equal(throttle.delayFor('b', 2), 100);
  t.equal(throttle.delayFor('c', 2), 100);
});

t.test('a slowed address gets one check at a time, each after its delay; beyond the queue it is turned away', async (t) => {
  const throttle = new LoginThrottle({ free: 0, baseMs: 20, maxMs: 40, maxWaiting: 2 });
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const check = (n: number) => async () => {
    most = Math.max(most, ++running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    order.push(n);
    throttle.fail('10.0.0.1');
    running--;
    return n;
  };
  t.equal(await throttle.schedule('10.0.0.1', check(0)), 0, 'not slowed yet: checked at once');
  const started = Date.now();
  const queued = [1, 2, 3, 4].map((n) => throttle.schedule('10.0.0.1', check(n)));
  t.equal(queued[3], undefined, 'one in progress and two waiting: the fourth is turned away');
  t.same(await Promise.all(queued.slice(0, 3)), [1, 2, 3]);
  t.same(order, [0, 1, 2, 3], 'in order');
  t.equal(most, 1, 'never two at once');
  t.ok(Date.now() - started >= 20 + 40 + 40 - 5, 'each waited its own, growing delay');
  t.ok(throttle.schedule('10.0.0.1', check(5)), 'the queue is free again once it drained');

  let parallel = 0;
  let mostParallel = 0;
  const free = async () => {
    mostParallel = Math.max(mostParallel, ++parallel);
    await new Promise((resolve) => setTimeout(resolve, 5));
    parallel--;
  };
  await Promise.all([throttle.schedule('10.0.0.2', free), throttle.schedule('10.0.0.2', free), throttle.schedule('10.0.0.2', free)]);
  t.equal(mostParallel, 3, 'an address that has not failed is checked in parallel, without a queue');
});

t.test('a check that throws frees its place in the queue', async (t) => {
  const throttle = new LoginThrottle({ free: 0, baseMs: 1, maxMs: 1, maxWaiting: 0 });
  throttle.fail('a');
  await t.rejects(throttle.schedule('a', async () => Promise.reject(new Error('boom')))!, /boom/);
  t.equal(await throttle.schedule('a', async () => 'next'), 'next');
});

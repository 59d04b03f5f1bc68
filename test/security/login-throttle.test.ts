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

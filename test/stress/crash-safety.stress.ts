// npm run test:stress: kill -9 the first start at 50 random instants; every next
// start configures and serves, and no home is ever left half-written.
import t from 'tap';
import { crashRound } from '../helpers/crash-round.js';

const rounds = Number(process.env.SECURENODE_STRESS_ROUNDS ?? 50);

t.test(`kill -9 at ${rounds} random instants of the first start`, async (t) => {
  for (let round = 0; round < rounds; round++) {
    const { killedAfter, status, leftovers, blocks } = await crashRound(t);
    t.same({ status, leftovers, blocks }, { status: '401', leftovers: [], blocks: 1 }, `round ${round + 1}, killed after ${killedAfter} ms`);
  }
});

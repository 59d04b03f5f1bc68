// npm run test:scale: both store kinds filled to SECURENODE_SCALE_USERS users
// (100,000 unless set), two nodes each. Checks what must hold at any size; the
// figures are printed, never asserted (timings belong to npm run bench).
import t from 'tap';
import { postgresSkip } from '../helpers/postgres.js';
import { describeScale, measureScale } from './measure.js';

const users = Number(process.env.SECURENODE_SCALE_USERS ?? 100_000);

for (const kind of ['file', 'postgres'] as const) {
  t.test(`${kind} store with ${users.toLocaleString('en')} users: a change on one node is seen on the other and logs in there; nothing is refused under 8 or 32 writers`, { skip: kind === 'postgres' ? postgresSkip : false }, async (t) => {
    const figures = await measureScale(t, kind, users);
    t.comment(describeScale(figures));
    t.equal(figures.seenOnSecond, true, 'each change made on the first node was seen on the second');
    t.equal(figures.newUserLogsIn, 200, 'the new user logs in on the second node');
    t.equal(figures.filledUserLogsIn, 200, 'so does a user of the filled store');
    t.equal(figures.parallelRefused, 0, `${figures.parallelChanges} changes from 8 clients at once (and, held, 32), on the first node alone and then over both nodes: none refused`);
  });
}

import fc from 'fast-check';
import t from 'tap';
import { KeptAnnouncements } from '../../src/security/postgres-listen.js';

t.test('announcements kept while a node commits: read after only when one is newer than what the node has by then, or has no generation', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.option(fc.bigInt({ min: 1n, max: 100n }), { nil: undefined }), { maxLength: 8 }), fc.option(fc.bigInt({ min: 0n, max: 100n }), { nil: undefined }), (announced, generation) => {
      const kept = new KeptAnnouncements();
      for (const one of announced) kept.keep(one);
      const expected = announced.some((one) => one === undefined || generation === undefined || one > generation);
      const newer = kept.takeNewerThan(generation === undefined ? undefined : String(generation));
      // Taken once: what was kept is forgotten.
      return newer === expected && !kept.takeNewerThan(generation === undefined ? undefined : String(generation));
    }),
    { numRuns: 500 },
  );
  t.pass('500 generated sets of announcements');
  const kept = new KeptAnnouncements();
  kept.keep(7n);
  kept.keep(5n);
  t.equal(kept.takeNewerThan('6'), true, 'the latest kept (7) is newer than 6, though 5 is not');
});

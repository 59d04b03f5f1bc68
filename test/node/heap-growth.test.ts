import t from 'tap';
import { heapGrowingPercent, boundHeapGrowth } from '../../src/io/heap.js';
import { hashPassword } from '../../src/security/password.js';
import { securenodeBin } from '../helpers/cli.js';
import { fillFileStore } from '../helpers/fill-store.js';
import { firstStartedHome, startNodeProcess } from '../helpers/node-process.js';

/** The factors V8 set its old generation's limits with, in order, from --trace-gc-verbose's `[HeapController] Limit:` lines. */
function limitFactors(output: string): number[] {
  return [...output.matchAll(/\[HeapController\] Limit: old size: \d+ KB, new limit: \d+ KB \((\d+\.\d+)\)/g)].map((match) => Number(match[1]));
}

/**
 * A node on a store of 30,000 users (about 9 MB to load: V8 collects the old generation at least once on the way), started
 * by `node NODE_FLAGS --trace-gc-verbose bin/securenode start`; the factors V8 set its limits with, once the node serves.
 */
async function startFactors(t: { teardown(fn: () => unknown): void }, home: string, nodeFlags: string[]): Promise<number[]> {
  const node = await startNodeProcess(home, { terminal: false, command: [process.execPath, ...nodeFlags, '--trace-gc-verbose', securenodeBin, 'start', '--home', home, '-E', 'http.port=0', '-E', 'transport.port=0'] });
  t.teardown(() => node.stop());
  await node.httpPort(60_000);
  await node.stop();
  return limitFactors(node.output());
}

t.test('securenode start holds the heap to 1.3 times what is live, from the store\'s load on; a factor on node\'s command line wins', async (t) => {
  const { home } = await firstStartedHome(t);
  await fillFileStore(home, 30_000, await hashPassword('a-long-enough-password'));

  const bound = 1 + heapGrowingPercent / 100;
  const bounded = await startFactors(t, home, []);
  const first = bounded.indexOf(bound);
  t.ok(first >= 0, `V8 set a limit at ${bound} (factors: ${bounded.join(', ')})`);
  t.same(bounded.slice(first).filter((factor) => factor !== bound), [], `and every limit after it at ${bound}: the load and what followed`);

  const chosen = await startFactors(t, home, ['--heap-growing-percent=60']);
  t.ok(chosen.length > 0, `V8 set limits (factors: ${chosen.join(', ')})`);
  t.same(chosen.filter((factor) => factor !== 1.6), [], "every one at node's own 1.6");
});

t.test('a factor given on node\'s command line is recognised in every spelling V8 takes, and nothing else is', async (t) => {
  // A command line that chose a factor returns before the flag is set; the others set it in this test's own process.
  for (const chosen of [['--heap-growing-percent=60'], ['--heap_growing_percent=60'], ['--heap-growing-percent', '60'], ['--max-old-space-size=512', '--heap-growing-percent=10']]) {
    t.equal(boundHeapGrowth(chosen), false, chosen.join(' '));
  }
  for (const other of [[], ['--heap-growing-percentage=60'], ['--max-old-space-size=512'], ['--no-heap-growing-percent-x']]) {
    t.equal(boundHeapGrowth(other), true, other.join(' ') || 'no flags');
  }
});

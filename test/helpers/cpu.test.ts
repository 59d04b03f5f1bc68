import { existsSync } from 'node:fs';
import t from 'tap';
import { coreWaitMs, coreWaitText } from './cpu.js';

t.test("a node's wait for a core: read from this kernel's schedstat, and said plainly where a kernel keeps none", async (t) => {
  const waited = await coreWaitMs(process.pid);
  if (existsSync(`/proc/${process.pid}/task/${process.pid}/schedstat`)) t.ok(Number.isFinite(waited) && waited >= 0, `this process's main thread has a wait (${waited} ms)`);
  else t.ok(Number.isNaN(waited), 'a kernel without schedstat: not a number');
  t.ok(Number.isNaN(await coreWaitMs(2 ** 22 + 1)), 'no such process: not a number, no error');
  t.equal(coreWaitText([14.4, 31.6]), 'waited for a core up to 14 / 32% of the time');
  t.equal(coreWaitText([NaN, 12]), 'its wait for a core not known (no schedstat in this kernel)', 'never NaN%');
});

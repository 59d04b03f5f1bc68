import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { canHoldCpu, holdToCpuShare } from './cpu-budget.js';

/** The control group of `pid` in the hierarchy that holds the CPU controller (v1 `cpu`, or v2's one line). */
async function cpuGroupOf(pid: number): Promise<string> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n');
  const line = lines.find((entry) => entry.split(':')[1]!.split(',').includes('cpu')) ?? lines.find((entry) => entry.startsWith('0::'))!;
  return line.split(':')[2]!;
}

const controllable = existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') || existsSync('/sys/fs/cgroup/cgroup.subtree_control');

t.test('a process held to a share of a core: in a group of its own with that quota, every thread; released, back where it was and the group gone', { skip: process.getuid?.() === 0 && controllable ? false : 'needs root and a cgroup CPU controller (CI runs as root)' }, async (t) => {
  // A process with threads besides its main one (Node's own): all of them are held, since a node's work is not only its main thread's.
  // Held once it runs (its threads made), not at its spawn: threads made after a hold are in the group anyway.
  const child = spawn(process.execPath, ['-e', "process.stdout.write('ready'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const pid = child.pid!;
  t.equal(await canHoldCpu(), true);
  const hold = await holdToCpuShare(pid, 0.25);
  t.ok(hold, 'held');
  let released = false;
  t.teardown(() => (released ? undefined : hold?.release()));
  t.equal(await cpuGroupOf(pid), `/securenode-bench-${pid}`, 'the process is in its own group');
  const v1 = existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  const group = v1 ? `/sys/fs/cgroup/cpu/securenode-bench-${pid}` : `/sys/fs/cgroup/securenode-bench-${pid}`;
  if (v1) {
    t.equal((await readFile(`${group}/cpu.cfs_quota_us`, 'utf8')).trim(), '2500', 'a quarter of each 10 ms period');
    t.equal((await readFile(`${group}/cpu.cfs_period_us`, 'utf8')).trim(), '10000');
  } else {
    t.equal((await readFile(`${group}/cpu.max`, 'utf8')).trim(), '2500 10000', 'a quarter of each 10 ms period');
  }
  const tasks = (await readFile(`/proc/${pid}/status`, 'utf8')).match(/^Threads:\s+(\d+)$/m)![1];
  t.equal((await readFile(`${group}/${v1 ? 'tasks' : 'cgroup.threads'}`, 'utf8')).trim().split('\n').length, Number(tasks), `all ${tasks} threads are held`);
  await hold!.release();
  released = true;
  t.equal(await cpuGroupOf(pid), '/', 'released: back in the root group');
  t.notOk(existsSync(group), 'and the group is gone');
});

t.test('a share that is not a number of cores above 0 is refused, naming it', async (t) => {
  for (const share of [0, -1, Number.NaN]) await t.rejects(holdToCpuShare(process.pid, share), new TypeError(`a CPU share is a number of cores above 0, not ${share}`));
});

t.test('a machine without a writable CPU controller: not held, said as undefined, nothing made', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'no-cgroup-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  t.equal(await canHoldCpu(root), false, 'said before anything is asked of it');
  t.equal(await holdToCpuShare(process.pid, 0.5, root), undefined, 'an empty hierarchy');
  await writeFile(join(root, 'cgroup.controllers'), 'memory pids\n');
  await writeFile(join(root, 'cgroup.subtree_control'), '');
  t.equal(await holdToCpuShare(process.pid, 0.5, root), undefined, 'v2 without the cpu controller');
  t.equal(await canHoldCpu(root), false);
  await writeFile(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
  t.equal(await canHoldCpu(root), true, 'v2 with the cpu controller, its subtree control writable');
  t.notOk(existsSync(join(root, `securenode-bench-${process.pid}`)), 'no group made');
});

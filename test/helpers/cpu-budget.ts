import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where this machine's CPU controller lets a process be held to a share of a core: cgroup v1's `cpu` hierarchy
 * (cfs_quota_us over cfs_period_us) or cgroup v2 with `cpu` among the root's controllers (cpu.max). Undefined when
 * neither is writable here (not root, a container without the controller).
 */
async function controller(root: string): Promise<{ kind: 'v1' | 'v2'; dir: string } | undefined> {
  const writable = (path: string) => access(path, 2).then(() => true, () => false);
  if (await writable(join(root, 'cpu', 'cpu.cfs_quota_us'))) return { kind: 'v1', dir: join(root, 'cpu') };
  const controllers = await readFile(join(root, 'cgroup.controllers'), 'utf8').catch(() => '');
  if (controllers.split(/\s+/).includes('cpu') && (await writable(join(root, 'cgroup.subtree_control')))) return { kind: 'v2', dir: root };
  return undefined;
}

/** Whether this machine lets a process be held to a share of a core (see controller). */
export async function canHoldCpu(root = '/sys/fs/cgroup'): Promise<boolean> {
  return (await controller(root)) !== undefined;
}

/** The scheduler's period for a held process: short, so that a process over its share waits a few ms at a time, not 100. */
const periodUs = 10_000;

/** A process held to a share of a core, until released. */
export interface CpuHold {
  readonly pid: number;
  readonly share: number;
  /** Give the process its machine back (the root group), and remove its group. */
  release(): Promise<void>;
}

/**
 * Hold a process (every thread of it) to `share` of one core, in a control group of its own, as if it ran alone on a
 * machine that size: how the bench shows what a second node adds when both share this machine's cores with the
 * database and the clients. Undefined where the machine does not allow it (see controller).
 */
export async function holdToCpuShare(pid: number, share: number, root = '/sys/fs/cgroup'): Promise<CpuHold | undefined> {
  if (!(share > 0)) throw new TypeError(`a CPU share is a number of cores above 0, not ${share}`);
  const found = await controller(root);
  if (!found) return undefined;
  const group = join(found.dir, `securenode-bench-${pid}`);
  const quotaUs = Math.round(share * periodUs);
  try {
    await mkdir(group);
    if (found.kind === 'v1') {
      await writeFile(join(group, 'cpu.cfs_period_us'), String(periodUs));
      await writeFile(join(group, 'cpu.cfs_quota_us'), String(quotaUs));
    } else {
      await writeFile(join(root, 'cgroup.subtree_control'), '+cpu');
      await writeFile(join(group, 'cpu.max'), `${quotaUs} ${periodUs}`);
    }
    await writeFile(join(group, 'cgroup.procs'), String(pid));
  } catch (error) {
    await rmdir(group).catch(() => {});
    throw error;
  }
  return {
    pid,
    share,
    release: async () => {
      // A process that has exited has left the group already.
      await writeFile(join(found.dir, 'cgroup.procs'), String(pid)).catch(() => {});
      await rmdir(group);
    },
  };
}

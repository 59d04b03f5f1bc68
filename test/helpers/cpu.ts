import { readFile } from 'node:fs/promises';

/** CPU time a process has used so far, in ms: user and system, from /proc (at 100 ticks a second, so 10 ms steps). */
export async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** What `work` returns, and the CPU time the process `pid` used while it ran, in ms. */
export async function cpuDuring<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const before = await cpuMs(pid);
  const result = await work();
  return { result, ms: (await cpuMs(pid)) - before };
}

/**
 * How long the main thread of `pid` has waited so far, ready to run, for a core, in ms (the kernel's schedstat); NaN
 * where the kernel keeps no such count. What a node's event-loop delay holds besides the node's own work.
 */
export async function coreWaitMs(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').catch(() => '');
  return Number(text.split(' ')[1]) / 1e6;
}

/** The worst share of a stall window each node's main thread waited for a core, as the bench and test:scale print it. */
export function coreWaitText(percents: readonly number[]): string {
  if (percents.some(Number.isNaN)) return 'its wait for a core not known (no schedstat in this kernel)';
  return `waited for a core up to ${percents.map((percent) => percent.toFixed(0)).join(' / ')}% of the time`;
}

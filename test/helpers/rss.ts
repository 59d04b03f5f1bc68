import { readFile } from 'node:fs/promises';

/** A process's resident set size in MB, from /proc. */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) / 1024;
}

/** Sample a process's RSS every 250 ms while `work` runs; the highest value seen. */
export async function peakRssDuring(pid: number, work: () => Promise<unknown>): Promise<number> {
  let peak = await rssMb(pid);
  const sampler = setInterval(() => void rssMb(pid).then((mb) => (peak = Math.max(peak, mb)), () => {}), 250);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, await rssMb(pid));
}

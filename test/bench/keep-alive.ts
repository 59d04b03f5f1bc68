import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { cpuDuring } from '../helpers/cpu.js';
import { peakRssDuring, rssMb } from '../helpers/rss.js';

const serveScript = fileURLToPath(new URL('./serve.js', import.meta.url));

/** Start `serve.js` in a child process: securenode's node, or a bare https server with the same key and certificate. */
export async function serve(mode: 'node' | 'bare', home: string, password: string, env: Record<string, string> = {}): Promise<{ port: number; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, [serveScript, mode, home, password], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the ${mode} server exited (${code})`)));
  });
  return { port, pid: child.pid!, stop: () => child.kill() };
}

/** Requests per second over keep-alive connections for `seconds`, on loopback only. */
async function requestsPerSecond(port: number, headers: Record<string, string>, seconds: number): Promise<number> {
  return (await keepAliveLoad(port, headers, seconds)).perSecond;
}

async function keepAliveLoad(port: number, headers: Record<string, string>, seconds: number): Promise<{ perSecond: number; total: number }> {
  const result = await autocannon({ url: `https://127.0.0.1:${port}/`, connections: 16, duration: seconds, headers, tlsOptions: { rejectUnauthorized: false } } as autocannon.Options);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx answers and ${result.errors} errors`);
  return { perSecond: result.requests.average, total: result.requests.total };
}

/** Requests per second as above, and the server's CPU per request in microseconds (from /proc: what the client's share of the cores cannot move). */
async function requestsAndCpu(server: { port: number; pid: number }, headers: Record<string, string>, seconds: number): Promise<{ perSecond: number; cpuMicros: number }> {
  const { result, ms } = await cpuDuring(server.pid, () => keepAliveLoad(server.port, headers, seconds));
  return { perSecond: result.perSecond, cpuMicros: (ms * 1000) / result.total };
}

/**
 * Authenticated keep-alive GET / on the node as a ratio to a bare https server
 * with the same key and certificate, measured alternately in the same run.
 */
export async function keepAliveRatio(
  home: string,
  rounds: number,
  seconds: number,
): Promise<{ node: number[]; bare: number[]; ratio: number[]; nodeCpuMicros: number[]; bareCpuMicros: number[]; cpuRatio: number[]; rssIdle: number[]; rssRest: number[]; rssLoaded: number[] }> {
  const password = 'bench-password-1';
  const node = await serve('node', home, password);
  const auth = { authorization: `Basic ${Buffer.from(`elastic:${password}`).toString('base64')}` };
  const samples = { node: [] as number[], bare: [] as number[], ratio: [] as number[], nodeCpuMicros: [] as number[], bareCpuMicros: [] as number[], cpuRatio: [] as number[], rssIdle: [] as number[], rssRest: [] as number[], rssLoaded: [] as number[] };
  // Memory from `rounds` nodes, each started alone (this one, then others on homes of their own, stopped once read), all
  // then at rest together: one node's figure moved from run to run by more than the goal's margin (see the caller).
  const resting = [node];
  let bare: Awaited<ReturnType<typeof serve>> | undefined;
  try {
    for (let index = 0; index < rounds; index++) {
      if (index > 0) resting.push(await serve('node', `${home}-rest${index}`, password));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      samples.rssIdle.push(await rssMb(resting[index]!.pid));
      bare ??= await serve('bare', home, password);
    }
    // At rest: V8's memory reducer gives back the start's garbage and shrinks the young generation after some
    // seconds without work (measured: 91 MB until ~15 s, 74 MB from ~20 s on); 30 s without a request.
    await new Promise((resolve) => setTimeout(resolve, 29_000));
    for (const each of resting) samples.rssRest.push(await rssMb(each.pid));
    for (const each of resting.slice(1)) each.stop();
    for (let round = 0; round < rounds; round++) {
      let nodeLoad = { perSecond: 0, cpuMicros: 0 };
      samples.rssLoaded.push(await peakRssDuring(node.pid, async () => (nodeLoad = await requestsAndCpu(node, auth, seconds))));
      const bareLoad = await requestsAndCpu(bare!, {}, seconds);
      samples.node.push(nodeLoad.perSecond);
      samples.bare.push(bareLoad.perSecond);
      samples.ratio.push(nodeLoad.perSecond / bareLoad.perSecond);
      samples.nodeCpuMicros.push(nodeLoad.cpuMicros);
      samples.bareCpuMicros.push(bareLoad.cpuMicros);
      samples.cpuRatio.push(bareLoad.cpuMicros / nodeLoad.cpuMicros);
    }
  } finally {
    for (const each of resting) each.stop();
    bare?.stop();
  }
  return samples;
}

/**
 * The cost of authorization: keep-alive GET / on one node as a user with 20
 * roles and as the superuser, alternately in the same run; the ratio of their rates.
 */
export async function authorizationCost(home: string, rounds: number, seconds: number): Promise<{ superuser: number[]; twentyRoles: number[]; slowdown: number[] }> {
  const password = 'bench-password-1';
  const node = await serve('node', home, password);
  const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
  const samples = { superuser: [] as number[], twentyRoles: [] as number[], slowdown: [] as number[] };
  try {
    for (let round = 0; round < rounds; round++) {
      const superuser = await requestsPerSecond(node.port, basic('elastic'), seconds);
      const twentyRoles = await requestsPerSecond(node.port, basic('many'), seconds);
      samples.superuser.push(superuser);
      samples.twentyRoles.push(twentyRoles);
      samples.slowdown.push(1 - twentyRoles / superuser);
    }
  } finally {
    node.stop();
  }
  return samples;
}

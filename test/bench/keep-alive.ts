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

/** The requests answered in `seconds`, and the server's CPU meanwhile in ms (from /proc: what the client's share of the cores cannot move). */
async function requestsAndCpu(server: { port: number; pid: number }, headers: Record<string, string>, seconds: number): Promise<{ total: number; ms: number }> {
  const { result, ms } = await cpuDuring(server.pid, () => keepAliveLoad(server.port, headers, seconds));
  return { total: result.total, ms };
}

/** Each keep-alive round's slices per server, and the untimed load each server gets before the first. */
const slicesPerRound = 3;
const warmUpSeconds = 2;

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
    // Untimed, as a steady state is what is compared: the node's first requests wait for the password hash (each
    // connection's first, until one has been checked), and both servers' code is still being optimized.
    await keepAliveLoad(node.port, auth, warmUpSeconds);
    await keepAliveLoad(bare!.port, {}, warmUpSeconds);
    for (let round = 0; round < rounds; round++) {
      const nodeLoad = { requests: 0, cpuMs: 0 };
      const bareLoad = { requests: 0, cpuMs: 0 };
      // A round is slices of both in ABBA order (node, bare, bare, node, ...): this machine's speed drifts over
      // seconds (one server's rate moved by 30% from one 5 s round to the next), and a drift then falls on both alike.
      let peak = 0;
      for (let slice = 0; slice < slicesPerRound; slice++) {
        const nodeFirst = slice % 2 === 0;
        for (const which of nodeFirst ? (['node', 'bare'] as const) : (['bare', 'node'] as const)) {
          if (which === 'node') {
            let load = { total: 0, ms: 0 };
            peak = Math.max(peak, await peakRssDuring(node.pid, async () => (load = await requestsAndCpu(node, auth, seconds / slicesPerRound))));
            nodeLoad.requests += load.total;
            nodeLoad.cpuMs += load.ms;
          } else {
            const load = await requestsAndCpu(bare!, {}, seconds / slicesPerRound);
            bareLoad.requests += load.total;
            bareLoad.cpuMs += load.ms;
          }
        }
      }
      samples.rssLoaded.push(peak);
      // Both ran for the same time: the ratio of their requests is the ratio of their rates.
      samples.node.push(nodeLoad.requests / seconds);
      samples.bare.push(bareLoad.requests / seconds);
      samples.ratio.push(nodeLoad.requests / bareLoad.requests);
      samples.nodeCpuMicros.push((nodeLoad.cpuMs * 1000) / nodeLoad.requests);
      samples.bareCpuMicros.push((bareLoad.cpuMs * 1000) / bareLoad.requests);
      samples.cpuRatio.push((bareLoad.cpuMs / bareLoad.requests) / (nodeLoad.cpuMs / nodeLoad.requests));
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

/**
 * What answering before routing saves: keep-alive GET / as the superuser on a node that answers it early (the
 * default) and on one that routes every request through fastify (BENCH_EARLY_ANSWERS=off, a home of its own), in
 * alternating order; the ratio of their rates. Every route that is not answered early costs what the routed node does.
 */
export async function earlyAnswerGain(home: string, rounds: number, seconds: number): Promise<{ early: number[]; routed: number[]; ratio: number[] }> {
  const password = 'bench-password-1';
  const auth = { authorization: `Basic ${Buffer.from(`elastic:${password}`).toString('base64')}` };
  const early = await serve('node', home, password);
  const routed = await serve('node', `${home}-routed`, password, { BENCH_EARLY_ANSWERS: 'off' });
  const samples = { early: [] as number[], routed: [] as number[], ratio: [] as number[] };
  try {
    await keepAliveLoad(early.port, auth, warmUpSeconds);
    await keepAliveLoad(routed.port, auth, warmUpSeconds);
    for (let round = 0; round < rounds; round++) {
      const rates = { early: 0, routed: 0 };
      for (const which of round % 2 === 0 ? (['early', 'routed'] as const) : (['routed', 'early'] as const)) {
        rates[which] = await requestsPerSecond((which === 'early' ? early : routed).port, auth, seconds);
      }
      samples.early.push(rates.early);
      samples.routed.push(rates.routed);
      samples.ratio.push(rates.routed / rates.early);
    }
  } finally {
    early.stop();
    routed.stop();
  }
  return samples;
}

// The security store as it grows (P4 goal 5): two nodes on one store filled
// with `users` users (copies of one real argon2id hash), the file store or
// PostgreSQL. Measures the node's start, a joining node's start, how soon a
// change on one node is visible on the other (by its notification, not by the
// read a refused login makes), changes per second one at a time and from 8
// clients at once, the CPU each node spends per change, the longest a node
// stalls meanwhile, logins cached and uncached, and memory. Used by
// `npm run test:scale` (which also checks that what it measures is right) and
// by `npm run bench`.
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { homePaths } from '../../src/home/layout.js';
import { cpuDuring, cpuMs } from '../helpers/cpu.js';
import { writeFileAtomic } from '../../src/io/atomic-write.js';
import { hashPassword } from '../../src/security/password.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { query, testDatabase } from '../helpers/postgres.js';
import { summarize } from '../bench/stats.js';

export const scalePassword = 'scale-password-1';
const admin = 'elastic:scale-admin-pass-1';

export interface ScaleFigures {
  kind: 'file' | 'postgres';
  users: number;
  startMs: number;
  joinMs: number;
  visibleMs: { median: number; max: number };
  sequentialPerSecond: number;
  /** 240 changes from 8 clients at once, split over both nodes. */
  parallelPerSecond: number;
  /** Of all the changes made from 8 clients at once (`parallelChanges` of them), how many were refused. */
  parallelRefused: number;
  parallelChanges: number;
  /** The same on the first node alone, before the second joins: what adding a node does to the change rate. */
  oneNodeParallelPerSecond: number;
  /** CPU per change of those parallel changes: the first node alone; then each node (the first, the second) with them split over both. */
  parallelCpuMsPerChange: { oneNode: number; twoNodes: [number, number] };
  cpuMsPerChange: [number, number];
  /** The longest a node's event loop was held up while the changes landed, either node, from inside (GET /_nodes/_local/stats). */
  stallMs: number;
  /** The same, each node: the first (the holder, or the writer), the second. */
  stallMsByNode: [number, number];
  /** The longest a client's GET /_health took meanwhile: the machine (2 cores shared by both nodes, the database and this client), not only the node. */
  clientStallMs: number;
  loginMs: { uncached: number; cached: number };
  rssMb: { idle: [number, number]; peak: [number, number] };
  /** What a test checks: the change was seen on the other node, and there its user logged in. */
  seenOnSecond: boolean;
  newUserLogsIn: number;
  filledUserLogsIn: number;
}

type Teardown = { teardown(fn: () => unknown): void };

/** One keep-alive HTTPS client to a node. */
function client(port: number, ca: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const call = (method: string, path: string, auth = admin, body?: unknown) =>
    new Promise<{ status: number; ms: number; text: string }>((resolve, reject) => {
      const started = performance.now();
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = { authorization: `Basic ${Buffer.from(auth).toString('base64')}`, ...(payload ? { 'content-type': 'application/json' } : {}) };
      request({ host: '127.0.0.1', port, path, method, ca, servername: 'localhost', agent, headers }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, ms: performance.now() - started, text }));
      })
        .on('error', reject)
        .end(payload);
    });
  return { call, close: () => agent.destroy() };
}

async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)![1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Changes that cost no password hash, `each` from each of 8 clients at once, each client on the node `nodeOf` gives it; the rate and the refused. */
async function parallelChanges(nodeOf: (worker: number) => ReturnType<typeof client>, each: number): Promise<{ perSecond: number; refused: number }> {
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: 8 }, async (_, worker) => {
      const statuses: number[] = [];
      for (let index = 0; index < each; index++) statuses.push((await nodeOf(worker).call('PUT', `/_security/user/u${100 + worker * each + index}`, admin, { roles: [] })).status);
      return statuses;
    }),
  );
  return { perSecond: ((8 * each) / (performance.now() - started)) * 1000, refused: answers.flat().filter((status) => status !== 200).length };
}

/** The changes each of the 8 clients makes for a change rate: 240 in all (80, as before, were over in about 0.2 s). */
const parallelEach = 30;

/** Fill the store of a stopped cluster with `users` users u1..uN, every one with the same real hash. */
async function fill(kind: 'file' | 'postgres', home: string, connection: Awaited<ReturnType<typeof testDatabase>> | undefined, users: number, hash: string): Promise<void> {
  if (kind === 'postgres') {
    await query(connection!, "INSERT INTO securenode_users (username, id, password_hash, roles, enabled) SELECT 'u' || i, gen_random_uuid(), $1, '{read-only}', true FROM generate_series(1, $2) AS i", [hash, users]);
    await query(connection!, 'UPDATE securenode_meta SET generation = generation + 1');
    return;
  }
  const path = `${homePaths(home).dataDir}/security.json`;
  const store = JSON.parse(await readFile(path, 'utf8')) as { users: Record<string, unknown> };
  for (let index = 1; index <= users; index++) store.users[`u${index}`] = { username: `u${index}`, id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`, passwordHash: hash, roles: ['read-only'], enabled: true };
  await writeFileAtomic(path, JSON.stringify(store), 0o600);
}

export async function measureScale(t: Teardown, kind: 'file' | 'postgres', users: number): Promise<ScaleFigures> {
  const dir = await nodeOwnedDir(t);
  const connection = kind === 'postgres' ? await testDatabase(t) : undefined;
  const env: Record<string, string> = connection
    ? {
        SECURENODE_SECURITY_STORE_TYPE: 'postgres',
        SECURENODE_SECURITY_STORE_POSTGRES_HOST: connection.host,
        SECURENODE_SECURITY_STORE_POSTGRES_PORT: String(connection.port),
        SECURENODE_SECURITY_STORE_POSTGRES_DATABASE: connection.database,
        SECURENODE_SECURITY_STORE_POSTGRES_USER: connection.user,
        SECURENODE_SECURITY_STORE_POSTGRES_PASSWORD: connection.password!,
      }
    : {};
  const nodes: NodeProcess[] = [];
  t.teardown(() => nodes.forEach((node) => node.signal('SIGKILL')));
  const start = async (name: string, args: string[] = [], extra: Record<string, string> = {}) => {
    const started = performance.now();
    const node = await startNodeProcess(`${dir}/${name}`, { terminal: false, env: { ...env, ...extra }, args: ['-E', `node.name=${name}`, ...args] });
    nodes.push(node);
    const port = await node.httpPort(120_000);
    return { node, port, ms: performance.now() - started };
  };

  // The cluster's first node, stopped to fill its store, then started again: its start at this size.
  const first = await start('one', [], { ELASTIC_PASSWORD: admin.split(':')[1]! });
  await first.node.waitFor(/"event":"bootstrap_password_applied"/);
  await first.node.stop();
  await fill(kind, `${dir}/one`, connection, users, await hashPassword(scalePassword));
  const one = await start('one');
  const ca = await readFile(`${homePaths(`${dir}/one`).certsDir}/http_ca.crt`, 'utf8');
  const a = client(one.port, ca);
  t.teardown(() => a.close());
  while ((await a.call('GET', `/_security/user/u${users}`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
  const startMs = one.ms;
  // The first node alone takes 240 changes from 8 clients (after 80 unmeasured, as the two nodes' are, which come later); the same
  // after the second joins, split over both, with nothing else asking either node meanwhile.
  const warmUp = await parallelChanges(() => a, 10);
  const { result: oneNode, ms: oneNodeCpuMs } = await cpuDuring(one.node.child.pid!, () => parallelChanges(() => a, parallelEach));

  // A second node joins, and takes the store (from the holder, or from the database).
  const token = await runCliAsNodeUser(['create-enrollment-token', '-s', 'node', '--home', `${dir}/one`], env);
  const joinStarted = performance.now();
  const two = await start('two', ['--enrollment-token', token.stdout.trim()]);
  const b = client(two.port, ca);
  t.teardown(() => b.close());
  while ((await b.call('GET', `/_security/user/u${users}`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
  const joinMs = performance.now() - joinStarted;
  const pids = [one.node.child.pid!, two.node.child.pid!];
  const idle = await Promise.all(pids.map(memory));

  // A change on the first node, seen on the second by its notification: polled with GETs, which never read the store again.
  const visible: number[] = [];
  let seenOnSecond = true;
  for (let round = 0; round < 5; round++) {
    const made = await a.call('PUT', `/_security/user/new${round}`, admin, { password: scalePassword, roles: ['read-only'] });
    const after = performance.now();
    let seen = false;
    while (!seen && performance.now() - after < 30_000) seen = (await b.call('GET', `/_security/user/new${round}`)).status === 200;
    seenOnSecond &&= made.status === 200 && seen;
    visible.push(performance.now() - after);
  }

  // Changes that cost no password hash (roles), one at a time, with the CPU of each node, while the second node's stall is watched
  // from outside (a client's /_health) and from inside (each node's event-loop delay, counted from this read on).
  const eventLoopMax = async (node: typeof a) => {
    const answer = await node.call('GET', '/_nodes/_local/stats');
    const stats = Object.values((JSON.parse(answer.text) as { nodes: Record<string, { event_loop: { delay_in_millis: { max: number } } }> }).nodes)[0]!;
    return stats.event_loop.delay_in_millis.max;
  };
  await Promise.all([eventLoopMax(a), eventLoopMax(b)]);
  let clientStallMs = 0;
  let watching = true;
  const watch = (async () => {
    while (watching) {
      clientStallMs = Math.max(clientStallMs, (await b.call('GET', '/_health')).ms);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const cpuBefore = await Promise.all(pids.map(cpuMs));
  const sequential = 50;
  const sequentialStarted = performance.now();
  for (let index = 0; index < sequential; index++) await a.call('PUT', `/_security/user/u${1 + index}`, admin, { roles: index % 2 ? ['read-only'] : [] });
  const sequentialMs = performance.now() - sequentialStarted;
  const cpuAfter = await Promise.all(pids.map(cpuMs));
  const spread = await parallelChanges((worker) => (worker % 2 ? b : a), 10);
  watching = false;
  await watch;
  // The rate over both nodes without the watch above (which asks the second node every 5 ms): measured as the first node's alone was.
  const parallelCpuBefore = await Promise.all(pids.map(cpuMs));
  const parallel = await parallelChanges((worker) => (worker % 2 ? b : a), parallelEach);
  const parallelCpuAfter = await Promise.all(pids.map(cpuMs));
  const stallMsByNode: [number, number] = [await eventLoopMax(a), await eventLoopMax(b)];
  const stallMs = Math.max(...stallMsByNode);
  const peak = await Promise.all(pids.map(memory));

  // Logins on the second node: a filled user, uncached then cached; the new user.
  const uncached = await b.call('GET', '/_security/_authenticate', `u${users}:${scalePassword}`);
  const cached = await b.call('GET', '/_security/_authenticate', `u${users}:${scalePassword}`);
  const newUser = await b.call('GET', '/_security/_authenticate', `new0:${scalePassword}`);
  const { median, max } = summarize(visible);
  return {
    kind,
    users,
    startMs,
    joinMs,
    visibleMs: { median, max },
    sequentialPerSecond: (sequential / sequentialMs) * 1000,
    parallelPerSecond: parallel.perSecond,
    parallelRefused: warmUp.refused + oneNode.refused + spread.refused + parallel.refused,
    parallelChanges: 8 * (10 + parallelEach + 10 + parallelEach),
    oneNodeParallelPerSecond: oneNode.perSecond,
    parallelCpuMsPerChange: {
      oneNode: oneNodeCpuMs / (8 * parallelEach),
      twoNodes: [0, 1].map((index) => (parallelCpuAfter[index]! - parallelCpuBefore[index]!) / (8 * parallelEach)) as [number, number],
    },
    cpuMsPerChange: [0, 1].map((index) => (cpuAfter[index]! - cpuBefore[index]!) / sequential) as [number, number],
    stallMs,
    stallMsByNode,
    clientStallMs,
    loginMs: { uncached: uncached.ms, cached: cached.ms },
    rssMb: { idle: [idle[0]!.rss, idle[1]!.rss], peak: [peak[0]!.peak, peak[1]!.peak] },
    seenOnSecond,
    newUserLogsIn: newUser.status,
    filledUserLogsIn: uncached.status,
  };
}

/** One line of figures, for a test's comment and the bench's table. */
export function describeScale(figures: ScaleFigures): string {
  const f = figures;
  return `${f.kind} ${f.users.toLocaleString('en')} users: start ${Math.round(f.startMs)} ms, join ${Math.round(f.joinMs)} ms, change visible on the other node ${Math.round(f.visibleMs.median)} ms (max ${Math.round(f.visibleMs.max)}), ${f.sequentialPerSecond.toFixed(1)} changes/s one at a time, ${f.parallelPerSecond.toFixed(1)}/s from 8 clients over both nodes (${f.oneNodeParallelPerSecond.toFixed(1)}/s on the first alone; ${f.parallelRefused} refused; CPU per change ${f.parallelCpuMsPerChange.oneNode.toFixed(1)} ms alone, ${f.parallelCpuMsPerChange.twoNodes.map((ms) => ms.toFixed(1)).join(' + ')} ms over both), CPU per change one at a time ${f.cpuMsPerChange.map((ms) => ms.toFixed(1)).join(' / ')} ms, longest event-loop stall ${f.stallMsByNode.map(Math.round).join(' / ')} ms (a client's /_health: ${Math.round(f.clientStallMs)} ms), login uncached ${Math.round(f.loginMs.uncached)} ms / cached ${Math.round(f.loginMs.cached)} ms, RSS idle ${f.rssMb.idle.map(Math.round).join(' / ')} MB, peak ${f.rssMb.peak.map(Math.round).join(' / ')} MB`;
}

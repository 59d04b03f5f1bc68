// One round of the store-at-scale measurement (measure.ts): the first node
// started on the filled store, changes on it alone, a second node started, a
// change on one seen on the other, changes one at a time and from 8 clients
// over both, the CPU of each node, the longest stall, logins and memory.
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { coreWaitMs, cpuDuring, cpuMs } from '../helpers/cpu.js';
import { canHoldCpu, holdToCpuShare } from '../helpers/cpu-budget.js';
import type { NodeProcess } from '../helpers/node-process.js';

export const scalePassword = 'scale-password-1';
export const admin = 'elastic:scale-admin-pass-1';

/** What one round measures. */
export interface RoundFigures {
  /** The first node's start on the filled store, to its first answer. */
  startMs: number;
  /** A new second node's enrollment and start, to serving the store it took. */
  joinMs: number;
  visibleMs: number[];
  /** The second node's longest event-loop delay while each of those changes was awaited: its own stall, or not, when one is slow. */
  visibleStallMs: number[];
  sequentialPerSecond: number;
  parallelPerSecond: number;
  oneNodeParallelPerSecond: number;
  /**
   * Changes from 8 clients with each node held to `heldShare` of a core, as if each ran on a machine of its own: the
   * first alone, then split over both; hash-free, and each setting a password. Undefined where this machine cannot hold
   * a process to a share (not root, no cgroup CPU controller).
   */
  held: { oneNode: number; twoNodes: number; saturated: { oneNode: number; twoNodes: number }; withPassword: { oneNode: number; twoNodes: number; hashingPeakMb: number } } | undefined;
  /** CPU per change of the parallel changes: the first node alone; then each node (the first, the second) with them split over both. */
  parallelCpuMsPerChange: { oneNode: number; twoNodes: [number, number] };
  /** CPU per change one at a time: the first node (the holder, or the writer), the second. */
  cpuMsPerChange: [number, number];
  /** The longest each node's event loop was held up while the changes landed, from inside (GET /_nodes/_local/stats). */
  stallMsByNode: [number, number];
  /** The share of that time (in %) each node's main thread waited, ready to run, for a core: the machine's part of the stall. */
  coreWaitPercentByNode: [number, number];
  /** The longest a client's GET /_health took meanwhile: the machine (2 cores shared by both nodes, the database and this client), not only the node. */
  clientStallMs: number;
  loginMs: { uncached: number; cached: number };
  rssMb: { idle: [number, number]; peak: [number, number] };
  refused: number;
  changes: number;
  seenOnSecond: boolean;
  newUserLogsIn: number;
  filledUserLogsIn: number;
}

/** One keep-alive HTTPS client to a node. */
export function client(port: number, ca: string) {
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
type Client = ReturnType<typeof client>;

async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)![1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Poll `path` every 20 ms until the node answers it with 200 (a store being loaded answers 404 or 503 meanwhile); an error after 10 minutes. */
export async function untilServed(node: Client, path: string): Promise<void> {
  const deadline = performance.now() + 600_000;
  while ((await node.call('GET', path)).status !== 200) {
    if (performance.now() > deadline) throw new Error(`the node did not serve ${path} within 10 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Changes that cost no password hash (or `body`'s), `each` from each of `clients` clients at once (8 unless given), each client on the node `nodeOf` gives it; the rate and the refused. */
async function parallelChanges(nodeOf: (worker: number) => Client, each: number, body: object = { roles: [] }, clients = 8): Promise<{ perSecond: number; refused: number }> {
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: clients }, async (_, worker) => {
      const statuses: number[] = [];
      for (let index = 0; index < each; index++) statuses.push((await nodeOf(worker).call('PUT', `/_security/user/u${100 + worker * each + index}`, admin, body)).status);
      return statuses;
    }),
  );
  return { perSecond: ((clients * each) / (performance.now() - started)) * 1000, refused: answers.flat().filter((status) => status !== 200).length };
}

/**
 * Each node's share of a core when held: two held nodes leave this machine's other core to the database and the
 * clients, so that what a second node adds shows, not what the machine has left.
 */
export const heldShare = 0.5;

/** Held changes of one kind: how many each client makes unmeasured, then measured, and what each PUT sends; whether the nodes are first brought to the rate they keep, unheld; whether their capacity is measured too (saturatedChanges). */
interface HeldKind {
  readonly warmUp: number;
  readonly each: number;
  readonly body: object;
  readonly steadyFirst: boolean;
  readonly saturated: boolean;
}

/**
 * What the held changes are. Hash-free changes (roles) are the store's own work, ordered by one writer (the database's
 * generation lock, or the holder); a change that sets a password is first a hash on the node that takes it. A node just
 * held runs its first periods unevenly, and 240 hash-free changes (half a second) measured that, not the rate it keeps:
 * the first node alone read 306 and 507 changes/s in two batches one after the other. 800 after 160 unmeasured read the
 * rate a node keeps; a hash takes tens of milliseconds of a half core, so 96 after 16.
 *
 * Nor had the nodes' code reached the rate it keeps: held, batches of 800 hash-free changes one after another rose from
 * 689 to 1,444 changes/s on one node (0.71 to 0.35 ms of CPU a change) and from 599 to 1,045 on two, flat only after
 * about 3,000 (file store, 10,000 users), and the second node, started for the measurement, had made fewer changes than
 * the first before it. So hash-free changes are measured once both configurations have run, unheld, for at least
 * steadyMs and until their rate stops rising (steadyRate); the password changes follow them.
 */
const hashFree: HeldKind = { warmUp: 20, each: 100, body: { roles: [] }, steadyFirst: true, saturated: true };
const withPassword: HeldKind = { warmUp: 2, each: 12, body: { password: scalePassword, roles: [] }, steadyFirst: false, saturated: false };

/**
 * Clients enough to keep every held node busy: what the nodes can take (their capacity), not how fast 8 clients that
 * each wait for their answer get through. 8 clients keep one held node at its quota (0.49 of its half core, throttled
 * in every period, file store, 10,000 users), but not two: a change made on the replica crosses both nodes (the holder
 * or the database, then the replica again), so each client waits longer. Each node takes at most 16 of them at once
 * (the client's sockets to it).
 */
export const saturatingClients = 32;

/** How long the capacity is measured: every client busy from its start to its end. */
export const saturatedMs = 1_500;

/**
 * The rate of hash-free changes from saturatingClients clients over saturatedMs: the changes made within it. Client
 * `w` keeps to the node `nodeOf(w)` (a connection a balancer keeps on one node) and changes its own 25 users in turn
 * (the 800 users of 8 clients' 100 each: no two clients change one user at once, and a store of 1,000 holds them).
 *
 * Over a time, not a number of changes each: with 50 changes each, the clients on the holder finished first, and it then
 * idled while those on the replica finished theirs, which take longer (they cross both nodes). That measured the last
 * client's wait, not what the nodes can take: by hand (file store, 20,000 users, 5 rounds), two held nodes read
 * 1,600-2,330 changes/s against 1,580-2,130 on the first alone, the holder at 0.38-0.42 of its half core and throttled
 * in 60-70% of periods. Over 1.5 s (100,000 users, two runs of 5 rounds): 2,610-2,840 against 1,960-2,440, the holder
 * at 0.47-0.49 and throttled in 81-97% of periods: the cluster's limit, its one writer, is what is read. (By hand, the
 * first node was read alone with the second attached and idle, still sent each change, which flatters the ratio; a
 * round here reads it before the second starts, and the bench read 1.06-1.08 at 100,000 users.) Only the changes made
 * count: a refusal is no capacity. Clients that
 * alternate between the nodes (a balancer that spreads requests) wait on the replica every other change, and left the
 * holder at 0.41-0.45: their wait again.
 */
async function saturatedChanges(nodeOf: (worker: number) => Client, body: object): Promise<{ perSecond: number; refused: number; changes: number }> {
  const users = 25;
  const started = performance.now();
  let answered = 0;
  let changes = 0;
  let refused = 0;
  await Promise.all(
    Array.from({ length: saturatingClients }, async (_, worker) => {
      for (let index = 0; performance.now() - started < saturatedMs; index++) {
        const { status } = await nodeOf(worker).call('PUT', `/_security/user/u${100 + worker * users + (index % users)}`, admin, body);
        changes++;
        if (status !== 200) refused++;
        if (status === 200 && performance.now() - started <= saturatedMs) answered++;
      }
    }),
  );
  return { perSecond: (answered / saturatedMs) * 1000, refused, changes };
}

/**
 * How long the nodes take changes unheld before they are held: V8 is still compiling their code for seconds after the
 * rate looks flat. Perf, on a second node just started (file store, 100,000 users, 16 clients on it, unheld): in its
 * first 3 s of changes, 30% of its CPU was V8's optimizing compiler (OptimizingCompileDispatcher) and a change cost it
 * 0.78 ms; after about 30 s, none, and 0.34 ms; 0.35 ms from about 8 s on. Held at once after the rate looked flat (2-8
 * batches, a few seconds), it spent a third of its half core compiling, and the clients on it made a third as many
 * changes as those on the first node: the figure measured a node starting, not the capacity of two.
 */
const steadyMs = 10_000;

/** Unheld batches of 800 changes for at least steadyMs, until one is no more than 10% faster than the fastest before it (at most 60): the changes made and refused. */
async function steadyRate(nodeOf: (worker: number) => Client, body: object): Promise<{ changes: number; refused: number }> {
  let best = 0;
  const made = { changes: 0, refused: 0 };
  const started = performance.now();
  for (let batch = 0; batch < 60; batch++) {
    const { perSecond, refused } = await parallelChanges(nodeOf, 100, body);
    made.changes += 800;
    made.refused += refused;
    if (batch > 0 && perSecond <= best * 1.1 && performance.now() - started >= steadyMs) break;
    best = Math.max(best, perSecond);
  }
  return made;
}

/**
 * The changes from 8 clients each on the node `nodeOf` gives it, with every process of `pids` held to heldShare of a
 * core: `kind.warmUp` each unmeasured, then the rate of `kind.each` each, and where `kind.saturated`, the rate from
 * saturatingClients clients (saturatedChanges). Undefined where they cannot be held.
 */
async function heldChanges(pids: readonly number[], nodeOf: (worker: number) => Client, kind: HeldKind): Promise<{ perSecond: number; saturatedPerSecond?: number; refused: number; changes: number } | undefined> {
  // Where nothing can be held, nothing is warmed for it either.
  if (!(await canHoldCpu())) return undefined;
  const steady = kind.steadyFirst ? await steadyRate(nodeOf, kind.body) : { changes: 0, refused: 0 };
  const holds = await Promise.all(pids.map((pid) => holdToCpuShare(pid, heldShare)));
  try {
    if (!holds.every((hold) => hold !== undefined)) return undefined;
    const warmUp = await parallelChanges(nodeOf, kind.warmUp, kind.body);
    const measured = await parallelChanges(nodeOf, kind.each, kind.body);
    const saturated = kind.saturated ? await saturatedChanges(nodeOf, kind.body) : { perSecond: undefined, refused: 0, changes: 0 };
    return {
      perSecond: measured.perSecond,
      saturatedPerSecond: saturated.perSecond,
      refused: steady.refused + warmUp.refused + measured.refused + saturated.refused,
      changes: steady.changes + 8 * (kind.warmUp + kind.each) + saturated.changes,
    };
  } finally {
    await Promise.all(holds.map((hold) => hold?.release()));
  }
}

/** Both kinds of held changes, one after the other; undefined where they cannot be held. */
async function heldRates(pids: readonly number[], nodeOf: (worker: number) => Client): Promise<{ hashFree: number; saturated: number; withPassword: number; refused: number; changes: number } | undefined> {
  const free = await heldChanges(pids, nodeOf, hashFree);
  const hashed = free && (await heldChanges(pids, nodeOf, withPassword));
  return free && hashed && { hashFree: free.perSecond, saturated: free.saturatedPerSecond!, withPassword: hashed.perSecond, refused: free.refused + hashed.refused, changes: free.changes + hashed.changes };
}

/** The changes each of the 8 clients makes for a change rate: 240 in all (80, as before, were over in about 0.2 s). */
const parallelEach = 30;

/** A started node: the process, its port, and how long it took to its first answer. */
export interface Started {
  readonly node: NodeProcess;
  readonly port: number;
  readonly ms: number;
}

/**
 * One round on a filled store of `users` users: `startFirst` starts the first node, `startSecond` the second (which
 * joins the first's cluster, or its database). `round` keeps the round's new users apart from the other rounds'.
 */
export async function measureRound(users: number, round: number, ca: string, startFirst: () => Promise<Started>, startSecond: () => Promise<Started>, teardown: (fn: () => unknown) => void): Promise<RoundFigures> {
  const one = await startFirst();
  const a = client(one.port, ca);
  teardown(() => a.close());
  await untilServed(a, `/_security/user/u${users}`);
  // The first node alone takes 240 changes from 8 clients (after 80 unmeasured, as the two nodes' are, which come later); the same
  // after the second joins, split over both, with nothing else asking either node meanwhile.
  const warmUp = await parallelChanges(() => a, 10);
  const { result: oneNode, ms: oneNodeCpuMs } = await cpuDuring(one.node.child.pid!, () => parallelChanges(() => a, parallelEach));
  const heldOne = await heldRates([one.node.child.pid!], () => a);
  // Eight passwords set at once are eight hashes of 19 MB each for a moment: that peak is the hashes', not the store's. Kept
  // apart, and the peak counted again from here (clear_refs 5), so the round's peak reads the store as before.
  const hashingPeakMb = heldOne && (await memory(one.node.child.pid!)).peak;
  if (heldOne) await writeFile(`/proc/${one.node.child.pid!}/clear_refs`, '5');

  // The second node starts, and takes the store (from the holder, or from the database).
  const two = await startSecond();
  const listening = performance.now();
  const b = client(two.port, ca);
  teardown(() => b.close());
  await untilServed(b, `/_security/user/u${users}`);
  // From the node's process start (its token made before) to the store served.
  const joinMs = two.ms + (performance.now() - listening);
  const pids = [one.node.child.pid!, two.node.child.pid!];
  const idle = await Promise.all(pids.map(memory));

  /** A node's longest event-loop delay since the last time this was read (GET /_nodes/_local/stats). */
  const eventLoopMax = async (node: Client) => {
    const answer = await node.call('GET', '/_nodes/_local/stats');
    const stats = Object.values((JSON.parse(answer.text) as { nodes: Record<string, { event_loop: { delay_in_millis: { max: number } } }> }).nodes)[0]!;
    return stats.event_loop.delay_in_millis.max;
  };

  // A change on the first node, seen on the second by its notification: polled with GETs, which never read the store again.
  // Beside each, the second node's longest event-loop delay meanwhile (its maximum, counted again from each read).
  const visibleMs: number[] = [];
  const visibleStallMs: number[] = [];
  let seenOnSecond = true;
  await eventLoopMax(b);
  for (let index = 0; index < 5; index++) {
    const made = await a.call('PUT', `/_security/user/new${round}-${index}`, admin, { password: scalePassword, roles: ['read-only'] });
    const after = performance.now();
    let seen = false;
    while (!seen && performance.now() - after < 30_000) seen = (await b.call('GET', `/_security/user/new${round}-${index}`)).status === 200;
    seenOnSecond &&= made.status === 200 && seen;
    visibleMs.push(performance.now() - after);
    visibleStallMs.push(await eventLoopMax(b));
  }

  // Changes that cost no password hash (roles), one at a time, with the CPU of each node, while the second node's stall is watched
  // from outside (a client's /_health) and from inside (each node's event-loop delay, counted from this read on).
  await Promise.all([eventLoopMax(a), eventLoopMax(b)]);
  const waitedBefore = await Promise.all(pids.map(coreWaitMs));
  const windowStarted = performance.now();
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
  const windowMs = performance.now() - windowStarted;
  const waitedAfter = await Promise.all(pids.map(coreWaitMs));
  const peak = await Promise.all(pids.map(memory));
  // Held after the stall's window closed: a node held to half a core waits for its share by design, which is no stall of its own.
  const heldTwo = await heldRates(pids, (worker) => (worker % 2 ? b : a));

  // Logins on the second node: a filled user, uncached then cached; a new user of this round.
  const uncached = await b.call('GET', '/_security/_authenticate', `u${users}:${scalePassword}`);
  const cached = await b.call('GET', '/_security/_authenticate', `u${users}:${scalePassword}`);
  const newUser = await b.call('GET', '/_security/_authenticate', `new${round}-0:${scalePassword}`);
  a.close();
  b.close();
  return {
    startMs: one.ms,
    joinMs,
    visibleMs,
    visibleStallMs,
    sequentialPerSecond: (sequential / sequentialMs) * 1000,
    parallelPerSecond: parallel.perSecond,
    oneNodeParallelPerSecond: oneNode.perSecond,
    held: heldOne === undefined || heldTwo === undefined ? undefined : { oneNode: heldOne.hashFree, twoNodes: heldTwo.hashFree, saturated: { oneNode: heldOne.saturated, twoNodes: heldTwo.saturated }, withPassword: { oneNode: heldOne.withPassword, twoNodes: heldTwo.withPassword, hashingPeakMb: hashingPeakMb! } },
    parallelCpuMsPerChange: {
      oneNode: oneNodeCpuMs / (8 * parallelEach),
      twoNodes: [0, 1].map((index) => (parallelCpuAfter[index]! - parallelCpuBefore[index]!) / (8 * parallelEach)) as [number, number],
    },
    cpuMsPerChange: [0, 1].map((index) => (cpuAfter[index]! - cpuBefore[index]!) / sequential) as [number, number],
    stallMsByNode,
    coreWaitPercentByNode: [0, 1].map((index) => ((waitedAfter[index]! - waitedBefore[index]!) / windowMs) * 100) as [number, number],
    clientStallMs,
    loginMs: { uncached: uncached.ms, cached: cached.ms },
    rssMb: { idle: [idle[0]!.rss, idle[1]!.rss], peak: [peak[0]!.peak, peak[1]!.peak] },
    refused: warmUp.refused + oneNode.refused + spread.refused + parallel.refused + (heldOne?.refused ?? 0) + (heldTwo?.refused ?? 0),
    changes: 8 * (10 + parallelEach + 10 + parallelEach) + (heldOne?.changes ?? 0) + (heldTwo?.changes ?? 0),
    seenOnSecond,
    newUserLogsIn: newUser.status,
    filledUserLogsIn: uncached.status,
  };
}

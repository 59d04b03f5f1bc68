// The security store as it grows (P4 goal 5): two nodes on one store filled
// with `users` users (copies of one real argon2id hash), the file store or
// PostgreSQL. Measures, in each of `rounds` rounds (scale-round.ts): the
// node's start, a second node's start, how soon a change on one node is
// visible on the other (by its notification, not by the read a refused login
// makes), changes per second one at a time and from 8 clients at once (on the
// first node alone, then over both), the CPU each node spends per change, the
// longest a node stalls meanwhile, logins cached and uncached, and memory.
// Between rounds both nodes stop; the first starts again on the same store,
// and a new second node enrolls. Used by
// `npm run test:scale` (one round; it also checks that what it measures is
// right) and by `npm run bench` (five).
import { readFile } from 'node:fs/promises';
import { homePaths } from '../../src/home/layout.js';
import { fillFileStore } from '../helpers/fill-store.js';
import { hashPassword } from '../../src/security/password.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { query, testDatabase } from '../helpers/postgres.js';
import { coreWaitText } from '../helpers/cpu.js';
import { summarize } from '../bench/stats.js';
import { admin, measureRound, saturatedMs, saturatingClients, scalePassword, type RoundFigures, type Started } from './scale-round.js';

export { scalePassword };

export type Range = { median: number; min: number; max: number };

/**
 * The rounds' figures: a median where a round gives one figure, the worst where the goal is a bound. Of the fields a
 * round has too: CPU per change and logins are medians; the stall, the wait for a core, a client's stall and the peak memory the worst of any
 * round (idle memory a median); the checks (seen, logged in) hold only if they held in every round.
 */
export interface ScaleFigures extends Pick<RoundFigures, 'parallelCpuMsPerChange' | 'cpuMsPerChange' | 'stallMsByNode' | 'coreWaitPercentByNode' | 'clientStallMs' | 'loginMs' | 'rssMb' | 'seenOnSecond' | 'newUserLogsIn' | 'filledUserLogsIn'> {
  kind: 'file' | 'postgres';
  users: number;
  rounds: number;
  startMs: Range;
  joinMs: Range;
  /** Over every change watched in every round (5 a round). */
  visibleMs: Range;
  /** The slowest of them, and the second node's longest event-loop delay while it was awaited. */
  slowestVisible: { ms: number; stallMs: number };
  sequentialPerSecond: Range;
  /** 240 changes from 8 clients at once, split over both nodes. */
  parallelPerSecond: Range;
  /** Of all the changes made from 8 clients at once (`parallelChanges` of them, every round), how many were refused. */
  parallelRefused: number;
  parallelChanges: number;
  /** The same on the first node alone, before the second starts: what adding a node does to the change rate. */
  oneNodeParallelPerSecond: Range;
  /** Each round's rate over both nodes against the first node's alone in the same round. */
  addedNodeRatio: Range;
  /**
   * The same with each node held to `heldShare` of a core (as if on machines of their own), when the machine allows it
   * in every round; and changes that each set a password (a hash on the node that takes it).
   */
  held:
    | {
        oneNode: Range;
        twoNodes: Range;
        addedNodeRatio: Range;
        /** Hash-free again, from clients enough to keep every held node busy (saturatingClients): what the nodes can take. */
        saturated: { oneNode: Range; twoNodes: Range; addedNodeRatio: Range };
        withPassword: { oneNode: Range; twoNodes: Range; addedNodeRatio: Range; hashingPeakMb: number };
      }
    | undefined;
  /** The longest a node's event loop was held up while the changes landed, either node, any round, from inside (GET /_nodes/_local/stats). */
  stallMs: number;
  /** Each round's longest stall, either node: how often the worst comes. */
  stallMsPerRound: Range;
}

type Teardown = { teardown(fn: () => unknown): void };

/** Fill the store of a stopped cluster with `users` users u1..uN, every one with the same real hash. */
async function fill(kind: 'file' | 'postgres', home: string, connection: Awaited<ReturnType<typeof testDatabase>> | undefined, users: number, hash: string): Promise<void> {
  if (kind === 'postgres') {
    await query(connection!, "INSERT INTO securenode_users (username, id, password_hash, roles, enabled) SELECT 'u' || i, gen_random_uuid(), $1, '{read-only}', true FROM generate_series(1, $2) AS i", [hash, users]);
    await query(connection!, 'UPDATE securenode_meta SET generation = generation + 1');
    return;
  }
  await fillFileStore(home, users, hash);
}

/** The rounds' figures as one: see ScaleFigures. */
function combine(kind: 'file' | 'postgres', users: number, rounds: readonly RoundFigures[]): ScaleFigures {
  const of = (pick: (round: RoundFigures) => number) => summarize(rounds.map(pick));
  const median = (pick: (round: RoundFigures) => number) => of(pick).median;
  const worst = (pick: (round: RoundFigures) => number) => of(pick).max;
  const pair = (pick: (round: RoundFigures) => [number, number], by: (values: (round: RoundFigures) => number) => number) => [by((round) => pick(round)[0]), by((round) => pick(round)[1])] as [number, number];
  const stallMsByNode = pair((round) => round.stallMsByNode, worst);
  const failed = (pick: (round: RoundFigures) => number) => rounds.map(pick).find((status) => status !== 200) ?? 200;
  return {
    kind,
    users,
    rounds: rounds.length,
    startMs: of((round) => round.startMs),
    joinMs: of((round) => round.joinMs),
    visibleMs: summarize(rounds.flatMap((round) => round.visibleMs)),
    slowestVisible: rounds
      .flatMap((round) => round.visibleMs.map((ms, index) => ({ ms, stallMs: round.visibleStallMs[index]! })))
      .reduce((slowest, change) => (change.ms > slowest.ms ? change : slowest)),
    sequentialPerSecond: of((round) => round.sequentialPerSecond),
    parallelPerSecond: of((round) => round.parallelPerSecond),
    parallelRefused: rounds.reduce((sum, round) => sum + round.refused, 0),
    parallelChanges: rounds.reduce((sum, round) => sum + round.changes, 0),
    oneNodeParallelPerSecond: of((round) => round.oneNodeParallelPerSecond),
    addedNodeRatio: of((round) => round.parallelPerSecond / round.oneNodeParallelPerSecond),
    held: rounds.every((round) => round.held !== undefined)
      ? {
          oneNode: of((round) => round.held!.oneNode),
          twoNodes: of((round) => round.held!.twoNodes),
          addedNodeRatio: of((round) => round.held!.twoNodes / round.held!.oneNode),
          saturated: {
            oneNode: of((round) => round.held!.saturated.oneNode),
            twoNodes: of((round) => round.held!.saturated.twoNodes),
            addedNodeRatio: of((round) => round.held!.saturated.twoNodes / round.held!.saturated.oneNode),
          },
          withPassword: {
            oneNode: of((round) => round.held!.withPassword.oneNode),
            twoNodes: of((round) => round.held!.withPassword.twoNodes),
            addedNodeRatio: of((round) => round.held!.withPassword.twoNodes / round.held!.withPassword.oneNode),
            hashingPeakMb: worst((round) => round.held!.withPassword.hashingPeakMb),
          },
        }
      : undefined,
    parallelCpuMsPerChange: { oneNode: median((round) => round.parallelCpuMsPerChange.oneNode), twoNodes: pair((round) => round.parallelCpuMsPerChange.twoNodes, median) },
    cpuMsPerChange: pair((round) => round.cpuMsPerChange, median),
    stallMs: Math.max(...stallMsByNode),
    stallMsByNode,
    stallMsPerRound: of((round) => Math.max(...round.stallMsByNode)),
    coreWaitPercentByNode: pair((round) => round.coreWaitPercentByNode, worst),
    clientStallMs: worst((round) => round.clientStallMs),
    loginMs: { uncached: median((round) => round.loginMs.uncached), cached: median((round) => round.loginMs.cached) },
    rssMb: { idle: pair((round) => round.rssMb.idle, median), peak: pair((round) => round.rssMb.peak, worst) },
    seenOnSecond: rounds.every((round) => round.seenOnSecond),
    newUserLogsIn: failed((round) => round.newUserLogsIn),
    filledUserLogsIn: failed((round) => round.filledUserLogsIn),
  };
}

export async function measureScale(t: Teardown, kind: 'file' | 'postgres', users: number, rounds = 1): Promise<ScaleFigures> {
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
  const start = async (name: string, args: string[] = [], extra: Record<string, string> = {}): Promise<Started> => {
    const started = performance.now();
    const node = await startNodeProcess(`${dir}/${name}`, { terminal: false, env: { ...env, ...extra }, args: ['-E', `node.name=${name}`, ...args] });
    nodes.push(node);
    const port = await node.httpPort(120_000);
    return { node, port, ms: performance.now() - started };
  };

  // The cluster's first node, stopped to fill its store; then each round starts it again (its start at this size) and a second node.
  const first = await start('one', [], { ELASTIC_PASSWORD: admin.split(':')[1]! });
  await first.node.waitFor(/"event":"bootstrap_password_applied"/);
  await first.node.stop();
  await fill(kind, `${dir}/one`, connection, users, await hashPassword(scalePassword));
  const ca = await readFile(`${homePaths(`${dir}/one`).certsDir}/http_ca.crt`, 'utf8');
  const figures: RoundFigures[] = [];
  for (let round = 0; round < rounds; round++) {
    let one: Started | undefined;
    let two: Started | undefined;
    const startFirst = async () => (one = await start('one'));
    // A new second node each round, enrolled with a new token: the first node's transport port is new at each start.
    const startSecond = async () => {
      const token = await runCliAsNodeUser(['create-enrollment-token', '-s', 'node', '--home', `${dir}/one`], env);
      return (two = await start(`two${round}`, ['--enrollment-token', token.stdout.trim()]));
    };
    figures.push(await measureRound(users, round, ca, startFirst, startSecond, (fn) => t.teardown(fn)));
    // Stopped, the second first: a stopped holder would leave a replica refusing changes.
    await two!.node.stop();
    await one!.node.stop();
  }
  return combine(kind, users, figures);
}

const range = (value: Range, digits = 0, unit = '') =>
  `${value.median.toFixed(digits)}${unit}` + (value.min === value.max ? '' : ` (${value.min.toFixed(digits)}-${value.max.toFixed(digits)})`);

/** One line of figures, for a test's comment and the bench's table: medians, with the rounds' min-max where there are several. */
export function describeScale(figures: ScaleFigures): string {
  const f = figures;
  return `${f.kind} ${f.users.toLocaleString('en')} users, ${f.rounds} round${f.rounds === 1 ? '' : 's'}: start ${range(f.startMs, 0, ' ms')}, join ${range(f.joinMs, 0, ' ms')}, change visible on the other node ${Math.round(f.visibleMs.median)} ms (max ${Math.round(f.visibleMs.max)}, the other node's longest stall meanwhile ${Math.round(f.slowestVisible.stallMs)} ms), ${range(f.sequentialPerSecond, 1)} changes/s one at a time, ${range(f.parallelPerSecond, 1)}/s from 8 clients over both nodes (${range(f.oneNodeParallelPerSecond, 1)}/s on the first alone, ratio ${range(f.addedNodeRatio, 2)}; each node held to half a core: ${f.held ? `${range(f.held.oneNode, 1)}/s on the first, ${range(f.held.twoNodes, 1)}/s over both, ratio ${range(f.held.addedNodeRatio, 2)}; from ${saturatingClients} clients over ${saturatedMs / 1000} s ${range(f.held.saturated.oneNode, 1)}/s and ${range(f.held.saturated.twoNodes, 1)}/s, ratio ${range(f.held.saturated.addedNodeRatio, 2)}; setting a password: ${range(f.held.withPassword.oneNode, 1)}/s, ${range(f.held.withPassword.twoNodes, 1)}/s, ratio ${range(f.held.withPassword.addedNodeRatio, 2)}, the first node's peak meanwhile ${Math.round(f.held.withPassword.hashingPeakMb)} MB` : 'not measured here'}; ${f.parallelRefused} of ${f.parallelChanges} refused; CPU per change ${f.parallelCpuMsPerChange.oneNode.toFixed(1)} ms alone, ${f.parallelCpuMsPerChange.twoNodes.map((ms) => ms.toFixed(1)).join(' + ')} ms over both), CPU per change one at a time ${f.cpuMsPerChange.map((ms) => ms.toFixed(1)).join(' / ')} ms, longest event-loop stall ${f.stallMsByNode.map(Math.round).join(' / ')} ms (each node's main thread ${coreWaitText(f.coreWaitPercentByNode)}; a client's /_health: ${Math.round(f.clientStallMs)} ms), login uncached ${Math.round(f.loginMs.uncached)} ms / cached ${Math.round(f.loginMs.cached)} ms, RSS idle ${f.rssMb.idle.map(Math.round).join(' / ')} MB, peak ${f.rssMb.peak.map(Math.round).join(' / ')} MB`;
}

// Goal 5 across a fold of the file store's log into its base. The bench's
// scale rounds never reach one: the log must first outgrow the base, about
// 90,000 changes at 100,000 users. Here each round fills the stopped holder's
// log to just short of its base's size, starts it and a second node, and makes
// a change every 20 ms on the holder for 12 s (a fold comes after about 200 of
// them), timing each to its answer and to the second node serving it, with both
// nodes' longest event-loop delay over the window.
import { readFile, stat } from 'node:fs/promises';
import { homePaths } from '../../src/home/layout.js';
import { writeFileAtomic } from '../../src/io/atomic-write.js';
import { hashPassword } from '../../src/security/password.js';
import { fillFileStore } from '../helpers/fill-store.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { admin, client, scalePassword, untilServed } from '../scale/scale-round.js';

export interface FoldFigures {
  readonly users: number;
  /** Per round: the base's and the filled log's bytes, and when the log was seen cut (ms into the window), or undefined. */
  readonly rounds: { baseBytes: number; logBytes: number; foldSeenMs: number | undefined; changes: number }[];
  /** Every change of every round: ms to its answer, and to the second node serving it. */
  readonly answeredMs: number[];
  readonly visibleMs: number[];
  /** Per round, each node's longest event-loop delay over the window (holder, second). */
  readonly stallMs: [number, number][];
}

const windowMs = 12_000;
const everyMs = 20;

/** The stopped holder's log, filled with changes to existing users (each a new `roles`), to `short` bytes under its base. */
async function fillLog(dataDir: string, users: number, short: number): Promise<{ baseBytes: number; logBytes: number }> {
  const base = `${dataDir}/security.json`;
  const log = `${dataDir}/security.log`;
  const store = JSON.parse(await readFile(base, 'utf8')) as { seq?: number; users: Record<string, object> };
  const baseBytes = (await stat(base)).size;
  const logged = await readFile(log, 'utf8').catch(() => '');
  const last = logged.trimEnd().split('\n').at(-1);
  let seq = last ? (JSON.parse(last) as { seq: number }).seq : (store.seq ?? 0);
  let bytes = Buffer.byteLength(logged);
  const lines: string[] = [];
  for (let index = 0; ; index++) {
    const user = { ...store.users[`u${(index % users) + 1}`], roles: index % 2 === 0 ? [] : ['read-only'] };
    const line = `${JSON.stringify({ seq: seq + 1, ops: [{ op: 'putUser', user }] })}\n`;
    if (bytes + line.length > baseBytes - short) break;
    lines.push(line);
    bytes += line.length;
    seq++;
  }
  // Written whole, as the node's user owns the data directory (writeFileAtomic keeps a root writer's file theirs).
  await writeFileAtomic(log, logged + lines.join(''), 0o600);
  return { baseBytes, logBytes: bytes };
}

type Stats = { nodes: Record<string, { event_loop: { delay_in_millis: { max: number } } }> };

/** `rounds` rounds of changes across a fold, on a file store of `users` users. */
export async function foldFigures(users: number, rounds: number): Promise<FoldFigures> {
  const cleanups: (() => unknown)[] = [];
  const nodes: NodeProcess[] = [];
  try {
    const dir = await nodeOwnedDir({ teardown: (fn) => cleanups.push(fn) });
    cleanups.push(() => nodes.forEach((node) => node.signal('SIGKILL')));
    const start = async (name: string, args: string[] = [], env: Record<string, string> = {}) => {
      const node = await startNodeProcess(`${dir}/${name}`, { terminal: false, env, args: ['-E', `node.name=${name}`, ...args] });
      nodes.push(node);
      return { node, port: await node.httpPort(120_000) };
    };
    const first = await start('one', [], { ELASTIC_PASSWORD: admin.split(':')[1]! });
    await first.node.waitFor(/"event":"bootstrap_password_applied"/);
    await first.node.stop();
    await fillFileStore(`${dir}/one`, users, await hashPassword(scalePassword));
    const { dataDir, certsDir } = homePaths(`${dir}/one`);
    const ca = await readFile(`${certsDir}/http_ca.crt`, 'utf8');
    const figures: FoldFigures = { users, rounds: [], answeredMs: [], visibleMs: [], stallMs: [] };
    for (let round = 0; round < rounds; round++) {
      // 60 KB short: about 200 changes of this size, 4 s of the window, before the log outgrows the base.
      const filled = await fillLog(dataDir, users, 60_000);
      const one = await start('one');
      const a = client(one.port, ca);
      await untilServed(a, `/_security/user/u${users}`);
      const token = await runCliAsNodeUser(['create-enrollment-token', '-s', 'node', '--home', `${dir}/one`], {});
      const two = await start(`two${round}`, ['--enrollment-token', token.stdout.trim()]);
      const b = client(two.port, ca);
      await untilServed(b, `/_security/user/u${users}`);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const loopMax = async (node: typeof a) => Object.values((JSON.parse((await node.call('GET', '/_nodes/_local/stats')).text) as Stats).nodes)[0]!.event_loop.delay_in_millis.max;
      // Read once to start the window: each read empties the node's histogram.
      await Promise.all([loopMax(a), loopMax(b)]);
      const began = performance.now();
      let foldSeenMs: number | undefined;
      let changes = 0;
      for (let index = 0; performance.now() - began < windowMs; index++) {
        const sent = performance.now();
        const made = await a.call('PUT', `/_security/user/u${index + 1}`, admin, { roles: [], metadata: { round, index } });
        if (made.status !== 200) throw new Error(`a change answered ${made.status}: ${made.text}`);
        figures.answeredMs.push(performance.now() - sent);
        const answered = performance.now();
        for (const deadline = answered + 60_000; ; ) {
          if (performance.now() > deadline) throw new Error(`the second node did not serve change ${index} of round ${round} within 60 s`);
          const seen = await b.call('GET', `/_security/user/u${index + 1}`);
          const user = (JSON.parse(seen.text) as Record<string, { metadata?: { round?: number; index?: number } }>)[`u${index + 1}`];
          if (user?.metadata?.round === round && user.metadata.index === index) break;
        }
        figures.visibleMs.push(performance.now() - answered);
        changes++;
        if (foldSeenMs === undefined && (await stat(`${dataDir}/security.log`)).size < filled.logBytes / 2) foldSeenMs = performance.now() - began;
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
      figures.stallMs.push([await loopMax(a), await loopMax(b)]);
      figures.rounds.push({ ...filled, foldSeenMs, changes });
      a.close();
      b.close();
      // Stopped, the second first: a stopped holder would leave a replica refusing changes.
      await two.node.stop();
      await one.node.stop();
    }
    return figures;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

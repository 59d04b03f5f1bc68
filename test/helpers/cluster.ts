import { readFile } from 'node:fs/promises';
import type { Test } from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { httpsJson } from './https.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess, type NodeProcess } from './node-process.js';

/** The elastic password of the test clusters. */
export const password = 'cluster-pass-123';
export const admin = `elastic:${password}`;

/** Poll `check` every 50 ms until it returns true or `ms` pass; the time it took, or undefined. */
export async function within(ms: number, check: () => Promise<boolean>): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return (await check()) ? performance.now() - started : undefined;
}

export interface Member {
  readonly name: string;
  readonly home: string;
  readonly node: NodeProcess;
  readonly port: number;
}

/** Three nodes on loopback, each with its own home and ports: the first creates the cluster, the others join with node tokens. */
export async function threeNodes(t: Test, env: Record<string, string> = {}) {
  const dir = await nodeOwnedDir(t);
  const start = async (name: string, args: string[], own: Record<string, string> = {}): Promise<Member> => {
    const home = `${dir}/${name}`;
    const node = await startNodeProcess(home, { terminal: false, env: { ...env, ...own }, args: ['-E', `node.name=${name}`, ...args] });
    t.teardown(() => node.signal('SIGKILL'));
    return { name, home, node, port: await node.httpPort() };
  };
  const first = await start('first', [], { ELASTIC_PASSWORD: password });
  await first.node.waitFor(/"event":"bootstrap_password_applied"/);
  const token = async () => {
    const created = await runCliAsNodeUser(['create-enrollment-token', '-s', 'node', '--home', first.home], env);
    if (created.exitCode !== 0) throw new Error(created.stderr);
    return created.stdout.trim();
  };
  const second = await start('second', ['--enrollment-token', await token()]);
  const third = await start('third', ['--enrollment-token', await token()]);
  const ca = await readFile(`${homePaths(first.home).certsDir}/http_ca.crt`, 'utf8');
  const call = (member: Member, method: string, path: string, auth?: string, body?: unknown) =>
    httpsJson({ port: member.port, ca, method, path, ...(auth ? { auth } : {}), ...(body === undefined ? {} : { body }) });
  return { dir, first, second, third, ca, call };
}

export type Cluster = Awaited<ReturnType<typeof threeNodes>>;

/**
 * What every store kind must give a cluster: every node reports all three; a
 * user created on one node logs in on the others; a changed password stops
 * working on every node within a second; an API key made on one node works on
 * another.
 */
export async function checkOneSecurityTruth(t: Test, cluster: Cluster): Promise<void> {
  const { first, second, third, ca, call } = cluster;
  const members = [first, second, third];

  // Every node reports the three, all connected, within seconds.
  for (const member of members) {
    const took = await within(10_000, async () => {
      const health = await call(member, 'GET', '/_cluster/health', admin);
      const body = health.body as { number_of_nodes?: number };
      return health.status === 200 && body.number_of_nodes === 3;
    });
    t.ok(took !== undefined, `${member.name} reports 3 nodes (${Math.round(took ?? -1)} ms)`);
  }
  const health = (await call(second, 'GET', '/_cluster/health', admin)).body as { status: string; nodes: { name: string; state: string }[] };
  t.equal(health.status, 'green');
  t.same(health.nodes.map((node) => `${node.name}:${node.state}`).sort(), ['first:connected', 'second:connected', 'third:connected']);

  // The elastic user of the cluster logs in on the joined nodes; a user created on one node logs in on another.
  t.equal((await call(third, 'GET', '/_security/_authenticate', admin)).status, 200, "the cluster's elastic user logs in on a joined node");
  t.equal((await call(second, 'PUT', '/_security/user/ada', admin, { password: 'ada-password-123', roles: ['read-only'] })).status, 200, 'a user created on the second node');
  t.equal((await call(third, 'GET', '/_security/_authenticate', 'ada:ada-password-123')).status, 200, 'logs in on the third');
  t.equal((await call(first, 'GET', '/_security/_authenticate', 'ada:ada-password-123')).status, 200, 'and on the first');

  // A password changed on one node stops working on every node within a second (cached credentials included).
  t.equal((await call(third, 'POST', '/_security/user/ada/_password', admin, { password: 'ada-password-456' })).status, 200, 'the password is changed on the third node');
  for (const member of members) {
    const took = await within(1_000, async () => (await call(member, 'GET', '/_security/_authenticate', 'ada:ada-password-123')).status === 401);
    t.ok(took !== undefined, `the old password fails on ${member.name} within a second (${Math.round(took ?? -1)} ms)`);
    t.equal((await call(member, 'GET', '/_security/_authenticate', 'ada:ada-password-456')).status, 200, `the new one works on ${member.name}`);
  }

  // An API key made on a joined node works on the others: the key that hashes its secret is the cluster's.
  const key = (await call(second, 'POST', '/_security/api_key', admin, { name: 'shared' })).body as { encoded: string };
  const byKey = await httpsJson({ port: first.port, ca, path: '/_security/_authenticate', headers: { authorization: `ApiKey ${key.encoded}` } });
  t.equal(byKey.status, 200, 'an API key created on the second node works on the first');

  // A console session opened on one node works on the others, and a logout on one ends it on all.
  const opened = await httpsJson({ port: second.port, ca, method: 'POST', path: '/_security/session', auth: admin });
  const cookie = String([opened.headers['set-cookie']].flat()[0]).split(';')[0]!;
  const csrf = (opened.body as { csrf_token: string }).csrf_token;
  for (const member of [first, third]) t.equal((await httpsJson({ port: member.port, ca, path: '/_security/_authenticate', headers: { cookie } })).status, 200, `a session opened on the second node works on ${member.name}`);
  t.equal((await httpsJson({ port: third.port, ca, method: 'DELETE', path: '/_security/session', headers: { cookie, 'x-csrf-token': csrf } })).status, 200, 'a logout on the third');
  const ended = await within(1_000, async () => (await httpsJson({ port: first.port, ca, path: '/_security/_authenticate', headers: { cookie } })).status === 401);
  t.ok(ended !== undefined, `ends it on the first within a second (${Math.round(ended ?? -1)} ms)`);

  await checkParallelWriters(t, cluster);
}

/**
 * Writers on every node at once lose nothing (P1): creations spread over the
 * three nodes all land, and a password change and a roles change made on two
 * nodes at the same moment to the same user both survive.
 */
async function checkParallelWriters(t: Test, cluster: Cluster): Promise<void> {
  const { first, second, third, call } = cluster;
  const members = [first, second, third];
  const created = await Promise.all(Array.from({ length: 12 }, (_, index) => call(members[index % 3]!, 'PUT', `/_security/user/par${index}`, admin, { password: `par-password-${index}`, roles: [] })));
  t.same(created.map((answer) => answer.status), Array(12).fill(200), 'twelve creations on three nodes at once, all acknowledged');
  const listed = await within(2_000, async () => Object.keys((await call(first, 'GET', '/_security/user', admin)).body as object).filter((name) => name.startsWith('par')).length === 12);
  t.ok(listed !== undefined, 'and all twelve are in the store');
  await Promise.all(
    Array.from({ length: 4 }, (_, index) => [
      call(second, 'POST', `/_security/user/par${index}/_password`, admin, { password: `par-changed-${index}` }),
      call(third, 'PUT', `/_security/user/par${index}`, admin, { roles: ['read-only'] }),
    ]).flat(),
  );
  for (let index = 0; index < 4; index++) {
    const both = await within(2_000, async () => {
      const answer = await call(first, 'GET', '/_security/_authenticate', `par${index}:par-changed-${index}`);
      return answer.status === 200 && JSON.stringify((answer.body as { roles: string[] }).roles) === '["read-only"]';
    });
    t.ok(both !== undefined, `par${index}: the password changed on one node and the roles changed on another both survived`);
  }
}

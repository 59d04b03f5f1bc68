import { readFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { Keystore } from '../../src/keystore/keystore.js';
import { generateTlsMaterial, tlsPasswordSettings } from '../../src/pki/tls-material.js';
import { httpsJson } from '../helpers/https.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { transportHandshake } from '../helpers/transport.js';

const password = 'cluster-pass-123';

/** Poll `check` every 50 ms until it returns true or `ms` pass; the time it took, or undefined. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return (await check()) ? performance.now() - started : undefined;
}

interface Member {
  readonly name: string;
  readonly home: string;
  readonly node: NodeProcess;
  readonly port: number;
}

/** Three nodes on loopback, each with its own home and ports: the first creates the cluster, the others join with node tokens. */
async function threeNodes(t: Test) {
  const dir = await nodeOwnedDir(t);
  const start = async (name: string, args: string[], env: Record<string, string> = {}): Promise<Member> => {
    const home = `${dir}/${name}`;
    const node = await startNodeProcess(home, { terminal: false, env, args: ['-E', `node.name=${name}`, ...args] });
    t.teardown(() => node.signal('SIGKILL'));
    return { name, home, node, port: await node.httpPort() };
  };
  const first = await start('first', [], { ELASTIC_PASSWORD: password });
  await first.node.waitFor(/"event":"bootstrap_password_applied"/);
  const token = async () => {
    const created = await runCliAsNodeUser(['create-enrollment-token', '-s', 'node', '--home', first.home]);
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

t.test('three nodes joined with node tokens: every node reports all of them, and one security truth', async (t) => {
  const { first, second, third, ca, call } = await threeNodes(t);
  const members = [first, second, third];
  const admin = `elastic:${password}`;

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

  // The holder stops: logins go on from the replicas; changes are refused with 503 and the reason.
  await first.node.stop();
  const away = await within(10_000, async () => ((await call(second, 'GET', '/_cluster/health', admin)).body as { number_of_nodes: number }).number_of_nodes === 2);
  t.ok(away !== undefined, 'the second node sees the first one gone');
  const yellow = (await call(second, 'GET', '/_cluster/health', admin)).body as { status: string; nodes: { name: string; state: string }[] };
  t.equal(yellow.status, 'yellow');
  t.ok(yellow.nodes.some((node) => node.name === 'first' && node.state === 'disconnected'), 'and reports it disconnected');
  for (const member of [second, third]) {
    t.equal((await call(member, 'GET', '/_security/_authenticate', 'ada:ada-password-456')).status, 200, `logins keep working on ${member.name}`);
    t.equal((await call(member, 'GET', '/_security/_authenticate', admin)).status, 200, `the elastic user too, on ${member.name}`);
  }
  const refused = await call(second, 'PUT', '/_security/user/bea', admin, { password: 'bea-password-123', roles: [] });
  t.same(refused, { status: 503, headers: refused.headers, body: { error: 'the node that holds the security store cannot be reached; changes are refused until it is back (logins keep working)' } });
  t.equal((await call(third, 'GET', '/_security/_authenticate', 'bea:bea-password-123')).status, 401, 'nothing was half-written');

  // A stopped joined node cannot reset a password on its own: its store is the cluster's.
  await third.node.stop();
  const offline = await runCliAsNodeUser(['reset-password', '-u', 'ada', '-b', '--home', third.home]);
  t.same(offline, {
    exitCode: 75,
    stdout: '',
    stderr: `ERROR: Failed to reset password for the [ada] user: this node joined a cluster, whose first node holds the security store; nothing was changed. Run reset-password on that node, or start this node (${third.home}) and run it again: the change then goes through the cluster\n`,
  });
});

t.test('a transport client with a certificate from another CA is refused; the cluster transport identity is accepted', async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/only`;
  const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: password } });
  t.teardown(() => node.signal('SIGKILL'));
  await node.httpPort();
  const started = JSON.parse((await node.waitFor(/\{[^\n]*"event":"node_started"[^\n]*\}/))[0]) as { transport: string };
  const transportPort = Number(started.transport.split(':').at(-1));
  const keystore = await Keystore.load(homePaths(home).keystoreFile, '');
  const own = { pfx: await readFile(`${homePaths(home).certsDir}/transport.p12`), passphrase: keystore.getString(tlsPasswordSettings.transportKeystore)! };
  const ca = await readFile(`${homePaths(home).certsDir}/http_ca.crt`, 'utf8');
  const uuid = (await httpsJson({ port: await node.httpPort(), ca, auth: `elastic:${password}` })).body as { cluster_uuid: string };
  t.match(await transportHandshake(transportPort, own, { cluster_name: 'securenode', cluster_uuid: uuid.cluster_uuid }), { node: { holds_store: true } }, "the cluster's own transport certificate is accepted");
  const stranger = await generateTlsMaterial({ nodeName: 'stranger', subjectAltNames: [] });
  const refused = String(await transportHandshake(transportPort, { pfx: stranger.transportP12, passphrase: stranger.passwords.transport }, { cluster_name: 'securenode', cluster_uuid: uuid.cluster_uuid }));
  t.ok(['error the connection closed', 'error ERR_SSL_TLSV13_ALERT_UNKNOWN_CA', 'error ECONNRESET'].includes(refused), `a certificate from another CA is refused (${refused})`);
  await node.stop();
});

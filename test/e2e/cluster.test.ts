import { readFile } from 'node:fs/promises';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { Keystore } from '../../src/keystore/keystore.js';
import { generateTlsMaterial, tlsPasswordSettings } from '../../src/pki/tls-material.js';
import { httpsJson } from '../helpers/https.js';
import { admin, checkOneSecurityTruth, password, threeNodes, within } from '../helpers/cluster.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';
import { transportHandshake } from '../helpers/transport.js';

t.test('three nodes joined with node tokens: every node reports all of them, and one security truth', async (t) => {
  const cluster = await threeNodes(t);
  await checkOneSecurityTruth(t, cluster);
  const { first, second, third, call } = cluster;

  // Admins at once on every node, on the same users: a password change made on one replica and a roles change on the
  // other, each worked out from its node's copy, while the holder creates users. A replica's change that lost its race
  // to another is refused with what it missed and worked out again: every change lands, none over another.
  const racers = Array.from({ length: 8 }, (_, index) => `racer${index}`);
  await Promise.all(racers.map((name, index) => call(first, 'PUT', `/_security/user/${name}`, admin, { password: `racer-password-${index}`, roles: [] })));
  const answers = await Promise.all(
    racers.flatMap((name, index) => [
      call(second, 'POST', `/_security/user/${name}/_password`, admin, { password: `racer-new-pass-${index}` }),
      call(third, 'PUT', `/_security/user/${name}`, admin, { roles: ['read-only'], full_name: `Racer ${index}` }),
      call(first, 'PUT', `/_security/user/${name}-twin`, admin, { password: `twin-password-${index}`, roles: [] }),
    ]),
  );
  t.same(answers.map((answer) => answer.status), Array(24).fill(200), 'every change acknowledged');
  for (const member of [first, second, third]) {
    for (const [index, name] of racers.entries()) {
      const seen = await within(5_000, async () => {
        const caller = (await call(member, 'GET', '/_security/_authenticate', `${name}:racer-new-pass-${index}`)).body as { roles?: string[]; full_name?: string };
        return JSON.stringify([caller.roles, caller.full_name]) === JSON.stringify([['read-only'], `Racer ${index}`]) && (await call(member, 'GET', '/_security/_authenticate', `${name}-twin:twin-password-${index}`)).status === 200;
      });
      t.ok(seen !== undefined, `${name} on ${member.name}: the new password, the roles change and the twin all landed`);
    }
  }

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

import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import t from 'tap';
import { parse } from 'yaml';
import { decodeEnrollmentToken, encodeEnrollmentToken } from '../../src/enrollment/token.js';
import { homePaths } from '../../src/home/layout.js';
import { Keystore } from '../../src/keystore/keystore.js';
import { readPkcs12Certificates } from '../../src/pki/read-pkcs12.js';
import { tlsPasswordSettings } from '../../src/pki/tls-material.js';
import { curl, statusOf } from '../helpers/curl.js';
import { snapshot } from '../helpers/home-snapshot.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';
import { openssl } from '../helpers/openssl.js';
import { transportHandshake } from '../helpers/transport.js';

const password = 'node-enroll-pass-1';

async function clusterNode(t: { teardown(fn: () => unknown): void }, args: string[] = []) {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/first`;
  const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: password }, args: ['-E', 'node.name=first', ...args] });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  await node.waitFor(/"event":"bootstrap_password_applied"/);
  const transport = (await node.waitFor(/"transport":"([^"]+)"/))[1]!;
  return { dir, home, node, port, transport, ca: `${homePaths(home).certsDir}/http_ca.crt` };
}

async function nodeToken(home: string): Promise<string> {
  const created = await runCliAsNodeUser(['create-enrollment-token', '-s', 'node', '--home', home]);
  if (created.exitCode !== 0) throw new Error(created.stderr);
  return created.stdout.trim();
}

/** The transport .p12 of a home and its password, read as the node reads them. */
async function transportStore(home: string) {
  const keystore = await Keystore.load(homePaths(home).keystoreFile, '');
  return { pfx: await readFile(`${homePaths(home).certsDir}/transport.p12`), passphrase: keystore.getString(tlsPasswordSettings.transportKeystore)! };
}

t.test('a node joins with a node token: the cluster CA signs its own HTTP certificate, the transport is shared', async (t) => {
  const first = await clusterNode(t);
  const token = await nodeToken(first.home);
  const decoded = decodeEnrollmentToken(token);
  t.equal(decoded.fgr.length, 64);

  const home = `${first.dir}/second`;
  const second = await startNodeProcess(home, { terminal: false, args: ['-E', 'node.name=second', '--enrollment-token', token] });
  t.teardown(() => second.signal('SIGKILL'));
  const port = await second.httpPort();
  t.match(second.output(), '"event":"enrolled"');
  t.notMatch(second.output(), /Password for the elastic user|elastic_password/, 'a joining node creates no elastic user');
  t.match(second.output(), 'WARNING: an enrollment token on the command line can be read by every user of this machine (ps, /proc) while securenode starts; pass it on standard input (--enrollment-token -), with --enrollment-token-file FILE, or in SECURENODE_ENROLLMENT_TOKEN\n');
  const commandLine = await readFile(`/proc/${second.child.pid}/cmdline`, 'utf8');
  t.notMatch(commandLine, token, 'once started, the token is gone from the command line ps shows');
  t.match(commandLine, /^securenode start/);

  const paths = homePaths(home);
  t.equal(await readFile(`${paths.certsDir}/http_ca.crt`, 'utf8'), await readFile(first.ca, 'utf8'), "the cluster's HTTP CA");
  const config = await readFile(paths.configFile, 'utf8');
  const settings = parse(config) as Record<string, unknown>;
  t.same(settings['discovery.seed_hosts'], [first.transport], 'seed hosts: the transport address of the cluster');
  t.equal(settings['cluster.name'], 'securenode', "the cluster's name is written");
  t.notOk('cluster.initial_master_nodes' in settings, 'a joining node bootstraps no cluster');
  t.match(config, '\n#transport.host: 0.0.0.0\n', 'a cluster on loopback leaves transport.host commented');

  const served = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', first.ca, '-verify_return_error', '-showcerts'], '');
  t.match(served.stdout, /Verify return code: 0 \(ok\)/, "the second node's chain verifies against the first node's http_ca.crt");
  const leaf = new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(served.stdout)![0]);
  t.equal(leaf.subject, 'CN=second', 'its own HTTP certificate');
  t.ok(leaf.verify(new X509Certificate(await readFile(first.ca)).publicKey), 'signed with the received HTTP CA key');
  t.equal(statusOf(await curl(port, first.ca, [], '/')), '401', 'curl trusts it with the cluster CA; authentication is still required');

  const [mine, theirs] = await Promise.all([transportStore(home), transportStore(first.home)]);
  const certificates = (store: { pfx: Buffer; passphrase: string }) => readPkcs12Certificates(store.pfx, store.passphrase, 'transport.p12').map((entry) => entry.pem).sort();
  t.same(certificates(mine), certificates(theirs), 'the same transport certificate and CA');
  // The first node's transport identity is accepted by the second node's transport listener (mutual TLS).
  const transportPort = Number((await second.waitFor(/"transport":"[^"]*:(\d+)"/))[1]);
  const firstInfo = JSON.parse((await curl(first.port, first.ca, ['-u', `elastic:${password}`])).stdout.split('\n')[0]!) as { cluster_uuid: string };
  const hello = await transportHandshake(transportPort, theirs, { cluster_name: 'securenode', cluster_uuid: firstInfo.cluster_uuid });
  t.match(hello, { node: { name: 'second', holds_store: false } }, "the joined node took the cluster's uuid: the handshake with it is accepted");
  t.match(first.node.output(), '"event":"enrollment_token_used","scope":"node"');
});

t.test('the node enrollment answer: keys that belong to their certificates, the transport addresses', async (t) => {
  const first = await clusterNode(t);
  const answer = await curl(first.port, first.ca, ['-u', `elastic:${password}`], '/_security/enroll/node');
  t.equal(statusOf(answer), '200');
  const body = JSON.parse(answer.stdout.split('\n')[0]!) as Record<string, unknown>;
  t.same(Object.keys(body).sort(), ['cluster_name', 'cluster_uuid', 'http_ca_cert', 'http_ca_key', 'nodes_addresses', 'transport_ca_cert', 'transport_ca_key', 'transport_cert', 'transport_key']);
  t.same(body.nodes_addresses, [first.transport]);
  const transportCaKey = await openssl(['pkey', '-inform', 'DER', '-pubout'], Buffer.from(body.transport_ca_key as string, 'base64'));
  t.equal(`${transportCaKey.stdout}\n`, new X509Certificate(Buffer.from(body.transport_ca_cert as string, 'base64')).publicKey.export({ type: 'spki', format: 'pem' }), 'transport_ca_key is the transport CA key, so that a joined node can renew its transport certificate');
  t.equal(new X509Certificate(Buffer.from(body.http_ca_cert as string, 'base64')).toString(), await readFile(first.ca, 'utf8'));
  const key = await openssl(['pkey', '-inform', 'DER', '-pubout'], Buffer.from(body.http_ca_key as string, 'base64'));
  t.equal(`${key.stdout}\n`, new X509Certificate(await readFile(first.ca)).publicKey.export({ type: 'spki', format: 'pem' }), 'http_ca_key is the CA key, PKCS#8 DER');

  const token = decodeEnrollmentToken(await nodeToken(first.home));
  const apiKey = `ApiKey ${Buffer.from(token.key).toString('base64')}`;
  t.equal(statusOf(await curl(first.port, first.ca, ['-H', `Authorization: ${apiKey}`], '/_security/enroll/client')), '403', 'a node key cannot enroll clients');
  t.equal(statusOf(await curl(first.port, first.ca, ['-H', `Authorization: ${apiKey}`], '/_security/_authenticate')), '403', 'nor open anything else');
  t.equal(statusOf(await curl(first.port, first.ca, ['-H', `Authorization: ${apiKey}`], '/_security/enroll/node')), '200');
  t.equal(statusOf(await curl(first.port, first.ca, ['-H', `Authorization: ${apiKey}`], '/_security/enroll/node')), '401', 'a node enrollment key works once: a replay gets nothing');

  // Five uses of one key at once: exactly one gets the CA key.
  const again = decodeEnrollmentToken(await nodeToken(first.home));
  const racing = await Promise.all(Array.from({ length: 5 }, () => curl(first.port, first.ca, ['-H', `Authorization: ApiKey ${Buffer.from(again.key).toString('base64')}`], '/_security/enroll/node')));
  t.same(racing.map(statusOf).sort(), ['200', '401', '401', '401', '401'], 'one use wins, the others are refused');
  t.equal(racing.filter((answer) => answer.stdout.includes('http_ca_key')).length, 1);
});

t.test('the token from standard input or the environment: never on the command line; the environment counts on the first start only', async (t) => {
  const first = await clusterNode(t);
  const viaStdin = await startNodeProcess(`${first.dir}/stdin`, { terminal: false, args: ['-E', 'node.name=stdin', '--enrollment-token', '-'] });
  t.teardown(() => viaStdin.signal('SIGKILL'));
  viaStdin.child.stdin!.end(`${await nodeToken(first.home)}\n`);
  await viaStdin.httpPort();
  t.match(viaStdin.output(), '"event":"enrolled"');
  t.notMatch(viaStdin.output(), 'WARNING', 'no warning: the token was not on the command line');

  const home = `${first.dir}/env`;
  const env = { SECURENODE_ENROLLMENT_TOKEN: await nodeToken(first.home) };
  const viaEnv = await startNodeProcess(home, { terminal: false, env, args: ['-E', 'node.name=env'] });
  await viaEnv.httpPort();
  t.match(viaEnv.output(), '"event":"enrolled"');
  await viaEnv.stop();
  // A service restarts with the same environment: the used token is not sent again, and the node starts.
  const restarted = await startNodeProcess(home, { terminal: false, env, args: ['-E', 'node.name=env'] });
  t.teardown(() => restarted.signal('SIGKILL'));
  await restarted.httpPort();
  t.notMatch(restarted.output(), '"event":"enrolled"');
  const both = await runCliAsNodeUser(['start', '--home', `${first.dir}/both`, '--enrollment-token', 'x'], env);
  t.same(both, { exitCode: 64, stdout: '', stderr: 'ERROR: give the enrollment token one way only: --enrollment-token, --enrollment-token-file or SECURENODE_ENROLLMENT_TOKEN\n' });
});

t.test('the cluster is reached before any file is touched; every failure has its exit code', async (t) => {
  const first = await clusterNode(t);
  const token = await nodeToken(first.home);
  const decoded = decodeEnrollmentToken(token);
  // The token on standard input, as the warning on a command-line token advises.
  const start = (home: string, enrollmentToken: string, args: string[] = []) =>
    runCliAsNodeUser(['start', '--home', home, '-E', 'http.port=0', '-E', 'transport.port=0', ...args, '--enrollment-token', '-'], {}, `${enrollmentToken}\n`);

  const unreachable = await start(`${first.dir}/none`, encodeEnrollmentToken({ ...decoded, adr: ['127.0.0.1:1'] }));
  t.equal(unreachable.exitCode, 69);
  t.match(unreachable.stderr, /^ERROR: could not communicate with the node on any of the addresses from the enrollment token; all of \[127\.0\.0\.1:1\] were attempted: 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  await t.rejects(stat(`${first.dir}/none`), { code: 'ENOENT' }, 'a home that did not exist is not created');

  // An existing home, as an operator prepares it: only a comment and a node name.
  const home = `${first.dir}/prepared`;
  await runCliAsNodeUser(['keystore', 'create', '--home', home]);
  await writeFile(homePaths(home).configFile, '# my settings\nnode.name: prepared\n');
  const before = await snapshot(home);
  const altered = encodeEnrollmentToken({ ...decoded, fgr: `${decoded.fgr.slice(0, -1)}${decoded.fgr.endsWith('0') ? '1' : '0'}` });
  const pinned = await start(home, altered);
  t.equal(pinned.exitCode, 69);
  t.match(pinned.stderr, 'fingerprint mismatch');
  t.same(await snapshot(home), before, 'a failed pin leaves the home byte for byte');

  t.same(await start(home, 'not-a-token'), { exitCode: 65, stdout: '', stderr: 'ERROR: invalid enrollment token: copy it again, whole, from the node that created it\n' });

  const clientToken = (await runCliAsNodeUser(['create-enrollment-token', '-s', 'client', '--home', first.home])).stdout.trim();
  const wrongScope = await start(home, clientToken);
  t.equal(wrongScope.exitCode, 69);
  t.match(wrongScope.stderr, /^ERROR: Aborting enrollment: the node at \S+ refused it: enrollment_token_API_key_\S+, you do not have permissions to read this resource; nothing was written\n$/);

  const named = await start(home, token, ['-E', 'cluster.name=elsewhere']);
  t.equal(named.exitCode, 78);
  t.match(named.stderr, 'cluster.name is [elsewhere] on this node, but the cluster at');
  t.same(await snapshot(home), before, 'no failure wrote anything');

  const configured = await start(home, token, ['-E', 'security.enabled=true']);
  t.equal(configured.exitCode, 80, 'a check that only skips a normal start is fatal with a token');
  t.match(configured.stderr, /^ERROR: Aborting enrollment: this node cannot be auto-configured to join a cluster because security\.enabled is set \(to true\): it appears that security is already configured; nothing was sent to the cluster\n$/);
  await mkdir(`${homePaths(home).dataDir}/old`);
  t.equal((await start(home, token)).exitCode, 80, 'a data dir in use');
  const handedOut = first.node.output().split('\n').filter((line) => line.includes('"event":"enrollment_token_used","scope":"node"'));
  t.equal(handedOut.length, 1, 'the cluster was asked once only: the cluster name is known from its answer; no failed check asked it');
});

t.test("a node reachable beyond loopback shows a node token in its banner, and another node joins with it", async (t) => {
  const dir = await nodeOwnedDir(t);
  const first = await startNodeProcess(`${dir}/first`, { terminal: true, args: ['-E', 'transport.host=0.0.0.0'] });
  t.teardown(() => first.signal('SIGKILL'));
  const [, token] = await first.waitFor(/Node enrollment token, for other nodes to join this cluster \(valid for the next 30 minutes\):[^\n]*\n {2}(\S+)\r?\n/);
  t.notMatch(first.output(), 'Configure other nodes to join this cluster:');
  const decoded = decodeEnrollmentToken(token!);
  t.ok(decoded.adr.every((address) => !address.startsWith('127.')), 'its addresses are not loopback');
  const second = await startNodeProcess(`${dir}/second`, { terminal: false, args: ['-E', 'node.name=second', '--enrollment-token', token!] });
  t.teardown(() => second.signal('SIGKILL'));
  await second.httpPort();
  const settings = parse(await readFile(homePaths(`${dir}/second`).configFile, 'utf8')) as Record<string, unknown>;
  const seeds = settings['discovery.seed_hosts'] as string[];
  t.ok(seeds.length > 0 && seeds.every((address) => !address.startsWith('127.')), 'seed hosts beyond loopback');
  t.equal(settings['transport.host'], '0.0.0.0', 'a cluster beyond loopback makes the joining node listen for it too');
});

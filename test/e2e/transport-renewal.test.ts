// A transport certificate renewed on one node of a three-node cluster: the
// node serves it without a restart, the others accept it because it chains to
// the cluster's transport CA, and the cluster stays green (a restarted node
// meets the renewed certificate on new connections). A cluster made before
// the transport CA key was kept is told why it cannot renew.
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { Keystore } from '../../src/keystore/keystore.js';
import { keyIdentifier } from '../../src/pki/keys.js';
import { readPkcs12Certificates, readPkcs12Key } from '../../src/pki/read-pkcs12.js';
import { buildTransportP12, tlsPasswordSettings } from '../../src/pki/tls-material.js';
import { X509Certificate } from 'node:crypto';
import { admin, threeNodes, within, type Member } from '../helpers/cluster.js';
import { firstStartedHome, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';
import { transportHandshake } from '../helpers/transport.js';

/** A member's transport .p12 and its password, and its transport port. */
async function transportOf(member: Member) {
  const keystore = await Keystore.load(homePaths(member.home).keystoreFile, '');
  const started = JSON.parse((await member.node.waitFor(/\{[^\n]*"event":"node_started"[^\n]*\}/))[0]) as { transport: string };
  return { pfx: await readFile(`${homePaths(member.home).certsDir}/transport.p12`), passphrase: keystore.getString(tlsPasswordSettings.transportKeystore)!, port: Number(started.transport.split(':').at(-1)) };
}

/** The serial of the certificate a transport port presents to a client with `credentials`. */
function servedSerial(port: number, credentials: { pfx: Buffer; passphrase: string; ca: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, pfx: credentials.pfx, passphrase: credentials.passphrase, ca: [credentials.ca], checkServerIdentity: () => undefined });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().serialNumber.toLowerCase());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

t.test('certs renew transport on one node of three: accepted by the others, the cluster stays green', async (t) => {
  const cluster = await threeNodes(t, { SECURENODE_SECURITY_CERTS_RELOAD_INTERVAL: '200ms' });
  const { first, second, third, call } = cluster;
  const before = await transportOf(second);
  const transportCa = readPkcs12Certificates(before.pfx, before.passphrase, 'transport.p12').find((entry) => entry.alias === 'transport_ca')!.pem;
  const renewed = await runCliAsNodeUser(['certs', 'renew', 'transport', '--home', second.home, '-E', 'node.name=second']);
  t.equal(renewed.exitCode, 0, renewed.stderr);
  t.match(renewed.stdout, /^ {2}subject {2}CN=second$/m, "the node's own name");
  const serial = /-> ([0-9a-f]+)/.exec(renewed.stdout)![1]!;
  await second.node.waitFor(/"event":"certificate_reloaded","certificate":"transport"/);
  const firstCredentials = await transportOf(first);
  t.equal(await servedSerial(before.port, { ...firstCredentials, ca: transportCa }), serial, "the second node's listener presents the renewed certificate to another node of the cluster");
  const after = await transportOf(second);
  const uuid = JSON.parse(await readFile(`${homePaths(first.home).dataDir}/node.json`, 'utf8')) as { clusterUuid: string };
  t.match(await transportHandshake(firstCredentials.port, { pfx: after.pfx, passphrase: after.passphrase, ca: [transportCa] }, { cluster_name: 'securenode', cluster_uuid: uuid.clusterUuid }), { node: { holds_store: true } }, 'the first node accepts the renewed certificate as a client');

  // A node that restarts dials the second one afresh and meets the renewed certificate.
  await third.node.stop();
  const again = await startNodeProcess(third.home, { terminal: false, env: {}, args: ['-E', 'node.name=third'] });
  t.teardown(() => again.signal('SIGKILL'));
  const thirdPort = await again.httpPort();
  const green = await within(20_000, async () => {
    for (const port of [first.port, second.port, thirdPort]) {
      const health = (await call({ ...third, port }, 'GET', '/_cluster/health', admin)).body as { status: string; number_of_nodes: number };
      if (health.status !== 'green' || health.number_of_nodes !== 3) return false;
    }
    return true;
  });
  t.ok(green !== undefined, 'green with three nodes on every node');
});

t.test('a cluster made before the transport CA key was kept: renew transport says why it cannot', async (t) => {
  const { home } = await firstStartedHome(t);
  // transport.p12 as earlier versions wrote it: the CA's certificate as a trusted entry, no key.
  const file = `${homePaths(home).certsDir}/transport.p12`;
  const passphrase = (await Keystore.load(homePaths(home).keystoreFile, '')).getString(tlsPasswordSettings.transportKeystore)!;
  const p12 = await readFile(file);
  const entries = readPkcs12Certificates(p12, passphrase, file);
  const leaf = new X509Certificate(entries.find((entry) => entry.alias === 'transport')!.pem);
  const old = buildTransportP12(new X509Certificate(entries.find((entry) => entry.alias === 'transport_ca')!.pem), { certificate: leaf, privateKey: readPkcs12Key(p12, passphrase, file, 'transport'), keyId: keyIdentifier(leaf.publicKey), commonName: 'x' }, passphrase);
  await writeFile(file, old);
  const refused = await runCliAsNodeUser(['certs', 'renew', 'transport', '--home', home]);
  t.equal(refused.exitCode, 78);
  t.match(refused.stderr, /holds the transport CA's certificate but not its key: this cluster was made before securenode kept it/);
  t.equal(Buffer.compare(await readFile(file), old), 0, 'nothing was changed');
});

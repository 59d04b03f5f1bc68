// Certificates after the first start, on a real node: `certs status` and its
// exit code; `certs renew http` while a client holds a keep-alive connection
// (it keeps working; a new connection gets the new serial under the same CA);
// a certificate made to expire soon (warned, listed in /_cluster/health,
// renewed by the node itself); kill -9 in the middle of a renewal.
import { chown, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { execa } from 'execa';
import fc from 'fast-check';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { Keystore } from '../../src/keystore/keystore.js';
import { renewHttpP12 } from '../../src/pki/renewal.js';
import { tlsPasswordSettings } from '../../src/pki/tls-material.js';
import { securenodeBin } from '../helpers/cli.js';
import { httpsJson } from '../helpers/https.js';
import { asNodeUser, firstStartedHome, nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';
import { openssl } from '../helpers/openssl.js';

const day = 86_400_000;
const password = 'certs-password-123';
const env = { ELASTIC_PASSWORD: password };
const fast = ['-E', 'security.certs.reload_interval=200ms'];

/** GET / on `agent` (or a new connection): status, and the serial of the certificate the connection got. */
function get(port: number, ca: string, agent: Agent | false) {
  return new Promise<{ status: number; serial: string; notAfter: string; socket: TLSSocket }>((resolve, reject) => {
    request({ host: '127.0.0.1', port, servername: 'localhost', ca, path: '/', agent, headers: { authorization: `Basic ${Buffer.from(`elastic:${password}`).toString('base64')}` } }, (response) => {
      const socket = response.socket as TLSSocket;
      const certificate = socket.getPeerCertificate();
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, serial: certificate.serialNumber.toLowerCase(), notAfter: certificate.valid_to, socket }));
    })
      .on('error', reject)
      .end();
  });
}

/** Replace the home's HTTP leaf with one from the same CA that started `ageDays` ago and lasts `validityDays` (as the node's user owns it). */
async function ageHttpCertificate(home: string, ageDays: number, validityDays: number): Promise<void> {
  const paths = homePaths(home);
  const file = `${paths.certsDir}/http.p12`;
  const keystore = await Keystore.load(paths.keystoreFile, '');
  const renewal = await renewHttpP12(await readFile(file), keystore.getString(tlsPasswordSettings.http)!, file, { notBefore: new Date(Date.now() - ageDays * day), validityDays });
  const before = await stat(file);
  await writeFile(file, renewal.p12, { mode: before.mode & 0o777 });
  await chown(file, before.uid, before.gid);
}

t.test('certs status, and certs renew http under a keep-alive connection', async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  const node = await startNodeProcess(home, { terminal: false, env, args: fast });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  const caFile = `${homePaths(home).certsDir}/http_ca.crt`;
  const ca = await readFile(caFile, 'utf8');

  const status = await runCliAsNodeUser(['certs', 'status', '--json', '--home', home]);
  t.equal(status.exitCode, 0, status.stderr);
  const report = JSON.parse(status.stdout) as { warn_before_days: number; certificates: { name: string; keyType: string; keySize: string; daysLeft: number; expiring: boolean; fingerprint: string }[] };
  t.same(report.certificates.map((certificate) => [certificate.name, certificate.keyType, certificate.keySize, certificate.expiring]), [['http_ca', 'EC', 'P-256', false], ['http', 'EC', 'P-256', false], ['transport_ca', 'EC', 'P-256', false], ['transport', 'EC', 'P-256', false]]);
  t.equal(report.warn_before_days, 30);
  const fingerprint = (await openssl(['x509', '-in', caFile, '-noout', '-fingerprint', '-sha256'])).stdout.split('=')[1]!.replace(/:/g, '').toLowerCase();
  t.equal(report.certificates[0]!.fingerprint, fingerprint, "the CA's fingerprint as openssl computes it");
  const text = await runCliAsNodeUser(['certs', 'status', '--home', home]);
  t.match(text.stdout, /^HTTP certificate: ok\n {2}subject {6}CN=.*\n {2}names {8}.*DNS:localhost.*\n {2}key {10}EC P-256\n {2}sha-256 {6}[0-9a-f]{64}\n {2}valid {8}\S+ to \S+ \((729|730) days left\)$/m);

  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await get(port, ca, agent);
  t.equal(first.status, 200);
  const renew = await runCliAsNodeUser(['certs', 'renew', 'http', '--san', 'renewed.example', '--home', home]);
  t.equal(renew.exitCode, 0, renew.stderr);
  t.match(renew.stdout, new RegExp(`serial {3}${first.serial} -> [0-9a-f]+\\n`));
  const newSerial = /-> ([0-9a-f]+)/.exec(renew.stdout)![1]!;
  // The node takes the file within reload_interval: new connections get the new certificate.
  let fresh = await get(port, ca, false);
  for (let tries = 0; fresh.serial !== newSerial && tries < 100; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    fresh = await get(port, ca, false);
  }
  t.equal(fresh.serial, newSerial, 'a new connection gets the renewed certificate, trusted through the same CA file');
  const again = await get(port, ca, agent);
  t.same([again.status, again.socket === first.socket, again.serial], [200, true, first.serial], 'the open keep-alive connection keeps working, on the certificate it started with');
  t.match((await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'renewed.example', '-verify_hostname', 'renewed.example', '-CAfile', caFile], '')).stdout, /Verify return code: 0 \(ok\)/, 'the added name verifies');
  await node.waitFor(/"event":"certificate_reloaded","certificate":"http"/);
  t.match(await readFile(`${homePaths(home).logsDir}/audit.log`, 'utf8'), /"event":"certificate_reloaded"/, 'audited');

  t.equal((await runCliAsNodeUser(['certs', 'renew', 'transport', '--san', 'x.example', '--home', home])).exitCode, 64, '--san is for the HTTP certificate');
});

t.test('a certificate about to expire: status exits 1, the node warns and lists it, and renews it itself unless told not to', async (t) => {
  const { home } = await firstStartedHome(t, env);
  await ageHttpCertificate(home, 20, 21);
  const status = await runCliAsNodeUser(['certs', 'status', '--home', home]);
  t.equal(status.exitCode, 1, 'exit 1: a cron job or a monitor can tell');
  t.match(status.stdout, /^HTTP certificate: EXPIRES SOON \(within 30 days\)$/m);
  t.match(status.stdout, /HTTP certificate ends within 30 days: run `securenode certs renew http`/);
  t.equal((await runCliAsNodeUser(['certs', 'status', '--home', home, '-E', 'security.certs.warn_before=12h'])).exitCode, 0, 'a shorter warn_before: exit 0');

  const kept = await startNodeProcess(home, { terminal: false, env, args: [...fast, '-E', 'security.certs.auto_renew=false'] });
  t.teardown(() => kept.signal('SIGKILL'));
  const port = await kept.httpPort();
  const ca = await readFile(`${homePaths(home).certsDir}/http_ca.crt`, 'utf8');
  await kept.waitFor(/"level":40,[^\n]*"event":"certificate_expiring","certificate":"http","not_after":"[^"]+","days_left":0/);
  const health = await httpsJson({ port, ca, path: '/_cluster/health', auth: `elastic:${password}` });
  t.same((health.body as { expiring_certificates: { name: string; days_left: number }[] }).expiring_certificates.map((entry) => [entry.name, entry.days_left]), [['http', 0]], '/_cluster/health lists it');
  t.notMatch(kept.output(), /certificate_renewed/, 'auto_renew false: not renewed');
  await kept.stop();

  const renewing = await startNodeProcess(home, { terminal: false, env, args: fast });
  t.teardown(() => renewing.signal('SIGKILL'));
  const renewedPort = await renewing.httpPort();
  await renewing.waitFor(/"event":"certificate_renewed","certificate":"http"/);
  await renewing.waitFor(/"event":"certificate_reloaded","certificate":"http"/);
  const served = await get(renewedPort, ca, false);
  t.ok(new Date(served.notAfter).getTime() - Date.now() > 700 * day, 'the node serves a renewed certificate of two years, from the same CA');
  t.match(await readFile(`${homePaths(home).logsDir}/audit.log`, 'utf8'), /"event":"certificate_renewed"[^\n]*"by":"auto_renew"/, 'audited');
  t.equal((await runCliAsNodeUser(['certs', 'status', '--home', home])).exitCode, 0, 'status is clean again');
  const after = await httpsJson({ port: renewedPort, ca, path: '/_cluster/health', auth: `elastic:${password}` });
  t.same((after.body as { expiring_certificates: unknown[] }).expiring_certificates, []);
});

t.test('kill -9 at any moment of a renewal leaves a certificate that opens, from the same CA', async (t) => {
  const { home } = await firstStartedHome(t, env);
  const caFile = `${homePaths(home).certsDir}/http_ca.crt`;
  let killed = 0;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 600 }), async (delay) => {
      const argv = await asNodeUser([process.execPath, securenodeBin, 'certs', 'renew', 'http', '--home', home], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
      const renew = execa(argv[0]!, argv.slice(1), { reject: false });
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (renew.kill('SIGKILL')) killed++;
      await renew;
      const status = await runCliAsNodeUser(['certs', 'status', '--json', '--home', home]);
      const leaf = (JSON.parse(status.stdout) as { certificates: { name: string }[] }).certificates.find((certificate) => certificate.name === 'http');
      return status.exitCode === 0 && leaf !== undefined;
    }),
    { numRuns: 10 },
  );
  t.ok(killed > 0, `some renewals were killed midway (${killed} of 10)`);
  // As a kill between the temporary file's creation and its rename leaves one (planted, so that the test does not rest on the kills' timing).
  await writeFile(`${homePaths(home).certsDir}/.http.p12.0123456789ab.tmp`, 'left over', { mode: 0o600 });
  t.equal((await runCliAsNodeUser(['certs', 'renew', 'http', '--home', home])).exitCode, 0, 'a renewal after them all');
  t.same((await readdir(homePaths(home).certsDir)).filter((name) => name.endsWith('.tmp')), [], 'and no temporary copy of a .p12 is left behind');
  const node = await startNodeProcess(home, { terminal: false, env });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  t.equal((await get(port, await readFile(caFile, 'utf8'), false)).status, 200, 'the node starts and serves, trusted through the same CA file');
});

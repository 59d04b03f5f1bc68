// Rotating the HTTP CA of a running node with enrolled clients: a client that
// refreshes between the two steps never meets a certificate it does not
// trust; one that does not is cut off at the finish and enrolls again; new
// tokens name the new CA; a crash between the two file writes of a step is
// mended at the next start.
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import t from 'tap';
import { parse } from 'yaml';
import { decodeEnrollmentToken } from '../../src/enrollment/token.js';
import { homePaths } from '../../src/home/layout.js';
import { sha256Fingerprint } from '../../src/pki/fingerprint.js';
import { curl, statusOf } from '../helpers/curl.js';
import { firstStartedHome, nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';

const password = 'rotation-pass-123';
const fast = ['-E', 'security.certs.reload_interval=200ms'];

/** The CAs of a PEM file, by fingerprint. */
const fingerprintsOf = (pem: string) => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? []).map((one) => sha256Fingerprint(new X509Certificate(one)));

t.test('certs rotate-ca http, with an enrolled client that refreshes and one that does not', async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: password }, args: fast });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  await node.waitFor(/"event":"bootstrap_password_applied"/);
  const caFile = `${homePaths(home).certsDir}/http_ca.crt`;
  const oldCa = fingerprintsOf(await readFile(caFile, 'utf8'));

  // Two clients enrolled before the rotation.
  const enroll = async (name: string) => {
    const token = await runCliAsNodeUser(['create-enrollment-token', '-s', 'client', '--home', home]);
    const enrolled = await runCliAsNodeUser(['enroll', '--enrollment-token', token.stdout.trim(), '--out', `${dir}/${name}`]);
    t.equal(enrolled.exitCode, 0, enrolled.stderr);
    const client = parse(await readFile(`${dir}/${name}/client.yml`, 'utf8')) as { ca: string; service_token: string };
    return { ...client, token: token.stdout.trim() };
  };
  const careful = await enroll('careful');
  const careless = await enroll('careless');
  const asks = async (client: { ca: string; service_token: string }) => statusOf(await curl(port, client.ca, ['-H', `Authorization: Bearer ${client.service_token}`], '/_security/_authenticate'));
  t.same([await asks(careful), await asks(careless)], ['200', '200']);

  const started = await runCliAsNodeUser(['certs', 'rotate-ca', 'http', '--home', home]);
  t.equal(started.exitCode, 0, started.stderr);
  const newCa = /new CA {3}([0-9a-f]{64})/.exec(started.stdout)?.[1];
  t.ok(newCa, 'the new fingerprint is printed');
  t.match(started.stdout, /^ {2}old CA {3}[0-9a-f]{64} \(until/m);
  t.match(started.stdout, /run `securenode enroll --refresh --out <the client's directory>` on each/);
  t.same(fingerprintsOf(await readFile(caFile, 'utf8')), [oldCa[0], newCa], 'http_ca.crt holds both, the served one first');
  const again = await runCliAsNodeUser(['certs', 'rotate-ca', 'http', '--home', home]);
  t.same([again.exitCode, /already under way/.test(again.stderr)], [64, true], 'one rotation at a time');
  const status = JSON.parse((await runCliAsNodeUser(['certs', 'status', '--json', '--home', home])).stdout) as { certificates: { name: string; fingerprint: string }[] };
  t.same(status.certificates.map((certificate) => certificate.name), ['http_ca', 'http_ca_next', 'http', 'transport_ca', 'transport'], 'status shows the rotation');
  await node.waitFor(/"event":"certificate_reloaded"[^\n]*"next_ca":"[0-9a-f]{64}"/);

  // During the overlap both clients still work; the careful one refreshes.
  t.same([await asks(careful), await asks(careless)], ['200', '200'], 'the node still serves from the old CA');
  const refreshed = await runCliAsNodeUser(['enroll', '--refresh', '--out', `${dir}/careful`]);
  t.equal(refreshed.exitCode, 0, refreshed.stderr);
  t.match(refreshed.stdout, new RegExp(`it trusts ${oldCa[0]} and ${newCa}\\.`));
  t.same(fingerprintsOf(await readFile(careful.ca, 'utf8')), [oldCa[0], newCa]);
  // A client enrolled during the overlap trusts both from the start.
  const during = await enroll('during');
  t.same(fingerprintsOf(await readFile(during.ca, 'utf8')), [oldCa[0], newCa], 'enrollment hands out both CAs during the overlap');

  const finished = await runCliAsNodeUser(['certs', 'rotate-ca', 'http', '--finish', '--home', home]);
  t.equal(finished.exitCode, 0, finished.stderr);
  t.match(finished.stdout, `the node serves a certificate from the new CA ${newCa}`);
  t.same(fingerprintsOf(await readFile(caFile, 'utf8')), [newCa], 'http_ca.crt holds the new CA only');
  for (let tries = 0; (await asks(careless)) === '200' && tries < 100; tries++) await new Promise((resolve) => setTimeout(resolve, 100));
  t.not(await asks(careless), '200', 'the client that did not refresh no longer trusts the node');
  t.same([await asks(careful), await asks(during)], ['200', '200'], 'the clients that trust both keep working');
  const stale = await runCliAsNodeUser(['enroll', '--refresh', '--out', `${dir}/careless`]);
  t.equal(stale.exitCode, 69, 'a refresh after the finish cannot verify the node');
  t.match(stale.stderr, /must enroll again with a new token/);

  const token = await runCliAsNodeUser(['create-enrollment-token', '-s', 'client', '--home', home]);
  t.equal(decodeEnrollmentToken(token.stdout.trim()).fgr, newCa, 'new enrollment tokens name the new CA');
  const late = await runCliAsNodeUser(['enroll', '--enrollment-token', token.stdout.trim(), '--out', `${dir}/late`]);
  t.equal(late.exitCode, 0, late.stderr);
  const none = await runCliAsNodeUser(['certs', 'rotate-ca', 'http', '--finish', '--home', home]);
  t.same([none.exitCode, /no rotation of the HTTP CA is under way/.test(none.stderr)], [64, true]);
});

t.test('a crash between the two writes of a rotation step is mended at the next start', async (t) => {
  const { home } = await firstStartedHome(t, { ELASTIC_PASSWORD: password });
  const caFile = `${homePaths(home).certsDir}/http_ca.crt`;
  const before = await readFile(caFile, 'utf8');
  t.equal((await runCliAsNodeUser(['certs', 'rotate-ca', 'http', '--home', home])).exitCode, 0);
  const both = await readFile(caFile, 'utf8');
  // As if the tool died after writing http.p12 and before the CA file.
  await writeFile(caFile, before);
  const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: password } });
  t.teardown(() => node.signal('SIGKILL'));
  await node.waitFor(/"event":"ca_file_mended"/);
  t.equal(await readFile(caFile, 'utf8'), both, 'the CA file holds both CAs again');
});

t.test('four admins start a rotation at once: one new CA, and the CA file names the one that was printed', async (t) => {
  const { home } = await firstStartedHome(t, { ELASTIC_PASSWORD: password });
  const caFile = `${homePaths(home).certsDir}/http_ca.crt`;
  const runs = await Promise.all(Array.from({ length: 4 }, () => runCliAsNodeUser(['certs', 'rotate-ca', 'http', '--home', home])));
  const started = runs.filter((run) => run.exitCode === 0);
  t.equal(started.length, 1, `one start (exit codes ${runs.map((run) => run.exitCode).join(', ')})`);
  t.ok(runs.filter((run) => run.exitCode !== 0).every((run) => /already under way|is changing the certificates/.test(run.stderr)), 'the others say why');
  const printed = /new CA {3}([0-9a-f]{64})/.exec(started[0]!.stdout)![1];
  t.equal(fingerprintsOf(await readFile(caFile, 'utf8'))[1], printed, 'the CA file holds the CA that was printed');
  const renewals = await Promise.all(Array.from({ length: 4 }, () => runCliAsNodeUser(['certs', 'renew', 'http', '--home', home])));
  t.ok(renewals.every((run) => run.exitCode === 0 || /is changing the certificates/.test(run.stderr)), 'renewals at once: done, or told to wait');
  const status = JSON.parse((await runCliAsNodeUser(['certs', 'status', '--json', '--home', home])).stdout) as { certificates: { name: string; fingerprint: string }[] };
  t.equal(status.certificates.find((certificate) => certificate.name === 'http_ca_next')?.fingerprint, printed, 'and no renewal lost the rotation under way');
});

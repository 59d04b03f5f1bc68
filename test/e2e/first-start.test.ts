import { chown, mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { execa } from 'execa';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { runCli, securenodeBin } from '../helpers/cli.js';
import { crashRound } from '../helpers/crash-round.js';
import { curl, statusOf } from '../helpers/curl.js';
import { snapshot } from '../helpers/home-snapshot.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess, unprivilegedUser } from '../helpers/node-process.js';
import { openssl } from '../helpers/openssl.js';
import { bannerValue } from '../helpers/banner.js';


t.test('first start at a terminal: banner, password, fingerprint, TLS; a second start changes nothing', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const paths = homePaths(home);
  const ca = `${paths.certsDir}/http_ca.crt`;
  const node = await startNodeProcess(home, { terminal: true });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  await node.waitFor(/HTTP CA certificate SHA-256 fingerprint:[^\n]*\r?\n {2}[0-9a-f]{64}\r?\n[\s\S]*━{100}/);
  const output = node.output();
  const password = bannerValue(output, `Password for the elastic user (reset with \`npx securenode reset-password -u elastic --home ${home}\`):`);
  const fingerprint = bannerValue(output, 'HTTP CA certificate SHA-256 fingerprint:');
  t.match(password, /^[A-Za-z0-9*\-_=+]{20}$/, 'a 20-character password alone on its line');
  t.match(output, '✅ securenode security features have been automatically configured!');
  t.match(output, `${'━'.repeat(100)}\r\n`, 'the rule is as wide as the terminal');

  const clientToken = bannerValue(output, 'Client enrollment token (valid for the next 30 minutes):');
  t.match(clientToken, /^[A-Za-z0-9_-]+={0,2}$/, 'the banner shows a client enrollment token');
  t.match(output, `Configure other nodes to join this cluster:\u001b[22m\r\n• On this node:\r\n  ⁃ Create an enrollment token with \`npx securenode create-enrollment-token -s node --home ${home}\`.`, 'transport on loopback: the steps, not a node token');
  t.notMatch(output, 'Node enrollment token');
  const enrolled = await runCliAsNodeUser(['enroll', '--enrollment-token', clientToken!, '--out', `${home}-client`]);
  t.equal(enrolled.exitCode, 0, `the banner's token enrolls a client: ${enrolled.stderr}`);

  t.match(output, `or open https://localhost:${port}/_console/ in a browser and log in as elastic`, "the banner's connect step names the console");
  const info = await curl(port, ca, ['-u', `elastic:${password}`]);
  t.equal(info.exitCode, 0, info.stderr);
  const [body, status] = info.stdout.split('\n');
  t.equal(status, '200');
  t.match(JSON.parse(body!), { cluster_name: 'securenode', version: { number: '0.1.0' }, tagline: 'Secure on first start' });
  const wrong = await curl(port, ca, ['-u', 'elastic:not-the-password']);
  t.equal(wrong.stdout, '{"error":"Invalid credentials"}\n401');

  const { stdout: opensslFingerprint } = await openssl(['x509', '-noout', '-fingerprint', '-sha256', '-in', ca]);
  t.equal(fingerprint, opensslFingerprint.replace(/^sha256 Fingerprint=/i, '').replace(/:/g, '').toLowerCase(), 'the printed fingerprint is http_ca.crt\'s');

  const served = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', ca, '-verify_return_error', '-showcerts'], '');
  t.match(served.stdout, /Verify return code: 0 \(ok\)/, 'the served chain verifies with openssl');
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(served.stdout)![0];
  const sans = (await openssl(['x509', '-noout', '-ext', 'subjectAltName'], leaf)).stdout;
  t.match(sans, 'DNS:localhost');
  t.match(sans, 'IP Address:127.0.0.1');

  // The .p12 files open with OpenSSL 3 using their passwords from the keystore (read as the CLI reads it).
  for (const [file, setting] of [['http.p12', 'security.http.ssl.keystore.secure_password'], ['transport.p12', 'security.transport.ssl.keystore.secure_password']]) {
    const secret = (await runCli(['keystore', 'show', setting!, '--home', home])).stdout.trimEnd();
    const opened = await openssl(['pkcs12', '-info', '-noout', '-in', `${paths.certsDir}/${file}`, '-passin', 'stdin'], `${secret}\n`);
    t.equal(opened.exitCode, 0, `${file} opens without -legacy`);
    t.notMatch(output, secret, `the ${file} password never reached the terminal`);
  }
  // Nothing that holds a key is readable by others, nor is the certs dir.
  for (const name of await readdir(paths.certsDir)) t.equal((await stat(`${paths.certsDir}/${name}`)).mode & 0o007, 0, `${name} is not readable by others`);
  t.equal((await stat(paths.certsDir)).mode & 0o777, 0o750);
  t.equal((await stat(paths.keystoreFile)).mode & 0o777, 0o600);
  t.notMatch(await readFile(`${paths.logsDir}/securenode.log`, 'utf8'), password!, 'the password is not in the log file');

  await node.stop();
  const before = await snapshot(paths.configDir);
  const second = await startNodeProcess(home, { terminal: true });
  t.teardown(() => second.signal('SIGKILL'));
  const secondPort = await second.httpPort();
  t.notMatch(second.output(), 'Password for the elastic user', 'no banner on a second start');
  t.equal((await curl(secondPort, ca, ['-u', `elastic:${password}`])).stdout.split('\n')[1], '200', 'the printed password still works');
  await second.stop();
  t.same(await snapshot(paths.configDir), before, 'the second start changed nothing in config/');
});

t.test('first start with output redirected: TLS applied, no secret printed, one line naming the tools', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const node = await startNodeProcess(home, { terminal: false });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  await node.waitFor(/"event":"no_terminal"/);
  const output = node.output();
  t.notMatch(output, 'Password for the elastic user');
  t.match(output, `Run \`npx securenode reset-password -u elastic --home ${home}\` to set one, and \`npx securenode create-enrollment-token -s client --home ${home}\` to create an enrollment token.`, 'run from the checkout, the hints use npx and name the home');
  const unauthenticated = await curl(port, `${homePaths(home).certsDir}/http_ca.crt`, []);
  t.equal(unauthenticated.stdout, '{"error":"Invalid credentials"}\n401', 'HTTPS with a verified chain, never plaintext');
  const plain = await execa('curl', ['-sS', `http://localhost:${port}/`], { reject: false });
  t.not(plain.exitCode, 0, 'plain HTTP gets no answer');
  for (const setting of ['security.http.ssl.keystore.secure_password', 'security.transport.ssl.keystore.secure_password']) {
    const secret = (await runCli(['keystore', 'show', setting, '--home', home])).stdout.trimEnd();
    t.notMatch(output, secret, `${setting} is not in the output`);
  }
  const identity = JSON.parse(await readFile(`${homePaths(home).dataDir}/node.json`, 'utf8'));
  t.match(identity.clusterUuid, /^[0-9a-f-]{36}$/, 'the node has its identity');
  // elastic is reserved and exists, without a usable password: no password was generated, printed or stored.
  const store = JSON.parse(await readFile(`${homePaths(home).dataDir}/security.json`, 'utf8')) as { users: Record<string, { passwordHash: string; roles: string[] }> };
  t.same(Object.keys(store.users), ['elastic']);
  t.same([store.users.elastic!.passwordHash, store.users.elastic!.roles], ['', ['superuser']], 'no password was generated or stored');
  const ca = `${homePaths(home).certsDir}/http_ca.crt`;
  t.equal(statusOf(await curl(port, ca, ['-u', 'elastic:'])), '401', 'an empty password opens nothing');

  // The hint the log gives works when pasted into a shell in the same directory (here as root, the operator of a container: the files stay the node user's): online, then offline.
  const hint = /Run `([^`]+)` to set one/.exec(output)![1]!;
  const pasted = await execa('sh', ['-c', `${hint} -b -s`], { reject: false, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' } });
  t.equal(pasted.exitCode, 0, pasted.stderr);
  t.equal(statusOf(await curl(port, ca, ['-u', `elastic:${pasted.stdout.trim()}`])), '200', 'the pasted hint set a password that logs in');
  const online = await runCliAsNodeUser(['reset-password', '-u', 'elastic', '-b', '-s', '--home', home]);
  t.equal(online.exitCode, 0, online.stderr);
  t.equal(statusOf(await curl(port, ca, ['-u', `elastic:${online.stdout.trim()}`])), '200', 'reset-password -u elastic, node running: the password logs in');
  await node.stop();
  const before = await stat(`${homePaths(home).dataDir}/security.json`);
  const pastedOffline = await execa('sh', ['-c', `${hint} -b -s`], { reject: false, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' } });
  t.equal(pastedOffline.exitCode, 0, pastedOffline.stderr);
  const after = await stat(`${homePaths(home).dataDir}/security.json`);
  t.same([after.uid, after.gid, after.mode & 0o777], [before.uid, before.gid, 0o600], 'pasted by root with the node stopped, the store stays the node user\'s');
  const offline = await runCliAsNodeUser(['reset-password', '-u', 'elastic', '-b', '-s', '--home', home]);
  t.equal(offline.exitCode, 0, offline.stderr);
  const again = await startNodeProcess(home, { terminal: false });
  t.teardown(() => again.signal('SIGKILL'));
  t.equal(statusOf(await curl(await again.httpPort(), ca, ['-u', `elastic:${offline.stdout.trim()}`])), '200', 'reset-password -u elastic, node stopped: the password logs in');
});

t.test('a redirected first start, then a start with ELASTIC_PASSWORD: the reserved user takes the bootstrap password', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const first = await startNodeProcess(home, { terminal: false });
  t.teardown(() => first.signal('SIGKILL'));
  await first.waitFor(/"event":"no_terminal"/);
  await first.stop();
  const second = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: 'bootstrap-later-1' } });
  t.teardown(() => second.signal('SIGKILL'));
  const port = await second.httpPort();
  await second.waitFor(/"event":"bootstrap_password_applied"/);
  t.equal(statusOf(await curl(port, `${homePaths(home).certsDir}/http_ca.crt`, ['-u', 'elastic:bootstrap-later-1'])), '200');
  await second.stop();
  const third = await startNodeProcess(home, { terminal: false });
  t.teardown(() => third.signal('SIGKILL'));
  await third.httpPort();
  t.notMatch(third.output(), 'elastic_password_unset', 'a password once given is not asked for again');
});

t.test('a second node on the same home is refused while the first runs', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const first = await startNodeProcess(home, { terminal: false });
  t.teardown(() => first.signal('SIGKILL'));
  await first.httpPort();
  const second = await startNodeProcess(home, { terminal: false });
  const { code } = await second.exited();
  t.equal(code, 75);
  t.match(second.output(), /^ERROR: another securenode process \(pid \d+\) is using the data dir .*\/home\/data; stop it first, or give this node its own --home\n$/);
});

t.test('kill -9 at random instants of the first start always recovers at the next start', async (t) => {
  // A quick 6 rounds here; npm run test:stress runs 50.
  for (let round = 0; round < 6; round++) {
    const { killedAfter, status, leftovers, blocks } = await crashRound(t);
    t.same({ status, leftovers, blocks }, { status: '401', leftovers: [], blocks: 1 }, `killed after ${killedAfter} ms: the next start serves TLS, nothing half-written, one block`);
  }
});

t.test('securenode refuses to run as root', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const home = `${t.testdir()}/home`;
  const result = await runCli(['start', '--home', home]);
  t.same(result, {
    exitCode: 78,
    stdout: '',
    stderr: `ERROR: securenode must not run as root: a compromise of the node would then own the machine. Create a dedicated user (useradd --system securenode), give it the home (install -d -o securenode -m 750 ${home}) and start the node as that user (su securenode -s /bin/sh -c '${securenodeBin} start --home ${home}'), set node.user to have it drop to that user after binding its ports, or pass --allow-root if a container leaves no choice\n`,
  });
  await t.rejects(stat(home), { code: 'ENOENT' }, 'nothing was created');
});

t.test('the runner is unprivileged when it must be', async (t) => {
  t.equal(unprivilegedUser === undefined, process.getuid?.() !== 0);
});

t.test('an empty config dir, as a mounted volume gives, is filled and the node starts', async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  const owner = await stat(dir);
  for (const path of [home, `${home}/config`]) {
    await mkdir(path);
    await chown(path, owner.uid, owner.gid);
  }
  const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: 'mounted-volume-1' } });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  t.equal(statusOf(await curl(port, `${homePaths(home).certsDir}/http_ca.crt`, ['-u', 'elastic:mounted-volume-1'])), '200');
  t.match(await readFile(homePaths(home).configFile, 'utf8'), 'BEGIN SECURITY AUTO CONFIGURATION');
});

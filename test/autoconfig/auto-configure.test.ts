import { readFile, stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { autoConfigure } from '../../src/autoconfig/auto-configure.js';
import { ensureHome } from '../../src/home/create-home.js';
import { homePaths } from '../../src/home/layout.js';
import { Keystore } from '../../src/keystore/keystore.js';
import { snapshot } from '../helpers/home-snapshot.js';
import { pooledKeyPair } from '../helpers/key-pool.js';

/** A new home whose keystore holds one setting, under `password`. */
async function homeWithKeystore(t: { testdir(): string }, name: string, value: string, password: string) {
  const home = `${t.testdir()}/home`;
  const paths = homePaths(home);
  await ensureHome(paths);
  const keystore = new Keystore();
  keystore.setString(name, value);
  await keystore.save(paths.keystoreFile, password);
  return { home, paths };
}

t.test('a new home is configured: certs, keystore passwords, the block, modes', async (t) => {
  const home = `${t.testdir()}/home`;
  const progress: string[] = [];
  const result = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {}, onProgress: (step) => progress.push(step) });
  if (result.kind !== 'configured') throw new Error('expected a configured home');
  t.same(progress, ['checking', 'generating-keys', 'writing-configuration']);
  t.equal(result.recovery, 'none');
  const paths = homePaths(home);
  t.equal((await stat(paths.certsDir)).mode & 0o777, 0o750);
  t.equal((await stat(`${paths.certsDir}/http.p12`)).mode & 0o777, 0o600);
  t.equal((await stat(`${paths.certsDir}/transport.p12`)).mode & 0o777, 0o600);
  t.equal((await stat(`${paths.certsDir}/http_ca.crt`)).mode & 0o777, 0o640);
  t.equal((await stat(paths.keystoreFile)).mode & 0o777, 0o600);
  const keystore = await Keystore.load(paths.keystoreFile, '');
  t.same(keystore.list(), [
    'security.http.ssl.keystore.secure_password',
    'security.transport.ssl.keystore.secure_password',
    'security.transport.ssl.truststore.secure_password',
  ]);
  t.equal(keystore.getString('security.http.ssl.keystore.secure_password'), result.tls.httpP12Password);
  t.equal(await readFile(`${paths.certsDir}/http_ca.crt`, 'utf8'), result.tls.httpCaPem);
  t.equal(result.settings.bool('security.enabled'), true, 'the returned settings include the block');
  t.equal(result.settings.string('http.host'), '0.0.0.0');
  t.same(result.settings.list('cluster.initial_master_nodes'), [result.settings.string('node.name')]);
});

t.test('the second run is skipped with its reason and changes nothing', async (t) => {
  const home = `${t.testdir()}/home`;
  const first = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {} });
  const before = await snapshot(home);
  const second = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {} });
  t.equal(second.kind, 'skipped');
  if (second.kind !== 'skipped') return;
  t.same(second.finding, { check: 6, exitCode: 80, reason: 'security.enabled is set (to true): it appears that security is already configured' });
  t.same(await snapshot(home), before);
  t.equal(second.tls?.httpCaFingerprint, first.tls?.httpCaFingerprint, 'the existing TLS material is returned');
  t.equal(second.tls?.httpP12Password, first.tls?.httpP12Password);
});

t.test('a password-protected keystore with its own settings is kept; a wrong password stops everything', async (t) => {
  const { home, paths } = await homeWithKeystore(t, 'bootstrap.password', 'operator-secret', 'ks-pass');
  const before = await snapshot(home);
  await t.rejects(autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {}, keystorePassword: 'wrong' }), { code: 'ERR_KEYSTORE_WRONG_PASSWORD' });
  t.same(await snapshot(home), before);
  const result = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: { SECURENODE_KEYSTORE_PASSWORD: 'ks-pass' } });
  t.equal(result.kind, 'configured');
  const after = await Keystore.load(paths.keystoreFile, 'ks-pass');
  t.equal(after.getString('bootstrap.password'), 'operator-secret');
  t.equal(after.list().length, 4);
});

t.test('a keystore already holding TLS passwords is check 12, and nothing is written', async (t) => {
  const { home } = await homeWithKeystore(t, 'security.http.ssl.keystore.secure_password', 'left over', '');
  const before = await snapshot(home);
  const result = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {} });
  t.equal(result.kind === 'skipped' && result.finding.check, 12);
  t.equal(result.tls, undefined, 'no TLS is configured');
  t.same(await snapshot(home), before);
});

t.test('settings from the environment and -E decide the checks', async (t) => {
  const home = `${t.testdir()}/home`;
  const off = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: { SECURENODE_SECURITY_AUTOCONFIGURATION_ENABLED: 'false' } });
  t.equal(off.kind === 'skipped' && off.finding.check, 5);
  const roles = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {}, overrides: ['node.roles=[master]'] });
  t.equal(roles.kind === 'skipped' && roles.finding.check, 10);
  const host = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {}, overrides: ['network.host=127.0.0.1', 'node.name=n_1'] });
  t.equal(host.kind, 'configured');
  t.equal(host.settings.isSet('http.host'), false, 'no http.host line when a host setting is set');
  t.same(host.settings.list('cluster.initial_master_nodes'), ['n_1']);
});

t.test('the lock: a second process on the same home is refused while the first holds it', async (t) => {
  const home = `${t.testdir()}/home`;
  const held = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {}, keepLock: true });
  t.type(held.releaseLock, 'function');
  const { acquireLock } = await import('../../src/node/data-dir.js');
  const lockFile = `${homePaths(home).dataDir}/node.lock`;
  await writeFile(lockFile, '1\n');
  await t.rejects(acquireLock(homePaths(home).dataDir), { code: 'ERR_NODE_LOCKED', message: `another securenode process (pid 1) is using the data dir ${homePaths(home).dataDir}; stop it first, or give this node its own --home` });
  await writeFile(lockFile, '999999999\n');
  const release = await acquireLock(homePaths(home).dataDir);
  t.match(await readFile(lockFile, 'utf8'), new RegExp(`^${process.pid} [0-9a-f-]{36}:\\d+\n$`), 'a lock left by a dead process is taken over, naming this one by pid, boot and start');
  await release();
});

t.test('the README example runs as written and serves TLS', async (t) => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const example = /## Use it in your own server[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!example) throw new Error('README.md has no example under "Use it in your own server"');
  const home = `${t.testdir()}/home`;
  // The example's home and port, made private to this test; nothing else is changed.
  const code = example.replace("'./my-server-home'", JSON.stringify(home)).replace('8443', '0').replace('https://localhost:8443/', 'https://localhost:${server.address().port}/');
  // Inside the package, so that `import ... from 'securenode'` resolves to this package.
  const file = fileURLToPath(new URL('../readme-example.mjs', import.meta.url));
  await writeFile(file, code);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill());
  const line = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('\n')) resolve(output.split('\n')[0]!);
    });
    child.on('exit', (code) => reject(new Error(`the example exited (${code}) before listening: ${output}`)));
  });
  const match = /^https:\/\/localhost:(\d+)\/ \(CA fingerprint ([0-9a-f]{64})\)$/.exec(line);
  t.ok(match, line);
  const ca = await readFile(`${homePaths(home).certsDir}/http_ca.crt`, 'utf8');
  const body = await new Promise<string>((resolve, reject) => {
    request({ host: '127.0.0.1', port: Number(match![1]), servername: 'localhost', ca, path: '/' }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve(text));
    }).on('error', reject).end();
  });
  t.equal(body, 'hello over TLS\n');
});

import { chmod, mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';

/** A home whose config dir the node's user owns, made by `keystore create` as that user. */
async function newHome(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const home = `${await nodeOwnedDir(t)}/home`;
  const created = await runCliAsNodeUser(['keystore', 'create', '--home', home]);
  if (created.exitCode !== 0) throw new Error(created.stderr);
  return home;
}

t.test('a YAML syntax error exits 78 naming the file and line, without a stack trace', async (t) => {
  const home = await newHome(t);
  const { configFile } = homePaths(home);
  await writeFile(configFile, 'cluster.name: ok\nnode.name: [unclosed\n');
  const result = await runCliAsNodeUser(['start', '--home', home]);
  t.same(result, {
    exitCode: 78,
    stdout: '',
    stderr: `ERROR: ${configFile}:3:1: securenode.yml is not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]\n`,
  });
});

t.test('an unknown key from the file, the environment or -E exits 78 naming the nearest key', async (t) => {
  const home = await newHome(t);
  const { configFile } = homePaths(home);
  t.same(await runCliAsNodeUser(['start', '--home', home, '-E', 'http.prot=9201']), {
    exitCode: 78,
    stdout: '',
    stderr: "ERROR: -E http.prot: unknown setting 'http.prot'; did you mean 'http.port'? (securenode --help-settings lists every setting)\n",
  });
  t.same(await runCliAsNodeUser(['start', '--home', home], { SECURENODE_CLUSTER_NAM: 'x' }), {
    exitCode: 78,
    stdout: '',
    stderr: 'ERROR: environment variable SECURENODE_CLUSTER_NAM: unknown setting; did you mean SECURENODE_CLUSTER_NAME? (securenode --help-settings lists every setting)\n',
  });
  await writeFile(configFile, 'cluster:\n  nmae: x\n');
  t.same(await runCliAsNodeUser(['start', '--home', home]), {
    exitCode: 78,
    stdout: '',
    stderr: `ERROR: ${configFile}:2: unknown setting 'cluster.nmae'; did you mean 'cluster.name'? (securenode --help-settings lists every setting)\n`,
  });
  t.equal((await runCliAsNodeUser(['start', '--home', home, '-E', 'nonsense'])).exitCode, 64, '-E without = is a usage error');
});

t.test('skip reasons: 80 only with -v; 78 always; a node without TLS never starts in plaintext', async (t) => {
  const home = await newHome(t);
  const off = await runCliAsNodeUser(['start', '--home', home, '-v', '-E', 'security.autoconfiguration.enabled=false']);
  t.same(off, {
    exitCode: 78,
    stdout: '',
    stderr: `Skipping security auto-configuration because security.autoconfiguration.enabled is false\nERROR: HTTP TLS is not configured in ${homePaths(home).configFile} (security.http.ssl.enabled with keystore.path), and securenode never serves plaintext; remove security.* settings from a new node to have it configured automatically\n`,
  });
  const quiet = await runCliAsNodeUser(['start', '--home', home, '-E', 'security.autoconfiguration.enabled=false']);
  t.notMatch(quiet.stderr, 'Skipping', 'an 80 finding is reported only with -v');

  const { configFile, configDir } = homePaths(home);
  await mkdir(`${home}/elsewhere`);
  await rename(configFile, `${home}/elsewhere/securenode.yml`);
  await symlink(`${home}/elsewhere/securenode.yml`, configFile);
  const linked = await runCliAsNodeUser(['start', '--home', home]);
  t.equal(linked.exitCode, 78);
  t.match(linked.stderr, `Skipping security auto-configuration because the configuration file ${configDir}/securenode.yml is missing or is not a regular file (a symbolic link counts as not regular)\n`);
});

t.test('a node that is not new says why only with -v, and starts with its configuration', async (t) => {
  const home = await newHome(t);
  const first = await startNodeProcess(home, { terminal: false });
  t.teardown(() => first.signal('SIGKILL'));
  await first.httpPort();
  await first.stop();
  const verbose = await startNodeProcess(home, { terminal: false, args: ['-v'] });
  t.teardown(() => verbose.signal('SIGKILL'));
  await verbose.httpPort();
  t.match(verbose.output(), `Skipping security auto-configuration because the data path ${homePaths(home).dataDir} is not empty: it appears that the node is not starting up for the first time\n`);
  await verbose.stop();
});

t.test('a port in use is said in words, with the settings to change (exit 69)', async (t) => {
  const { createServer } = await import('node:net');
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const { port } = taken.address() as { port: number };
  const home = await newHome(t);
  const result = await runCliAsNodeUser(['start', '--home', home, '-E', `http.port=${port}`, '-E', 'http.host=127.0.0.1', '-E', 'transport.port=0'], { ELASTIC_PASSWORD: 'port-in-use-12' });
  t.equal(result.exitCode, 69);
  t.equal(result.stderr, `ERROR: cannot listen on 127.0.0.1:${port}: another process already listens there (EADDRINUSE); stop the other process, or choose another address or port (http.port, transport.port, http.host, transport.host)\n`);
});

t.test('a password-protected keystore without a terminal or SECURENODE_KEYSTORE_PASSWORD: the same clear error as every tool', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  t.equal((await runCliAsNodeUser(['keystore', 'create', '--home', home], { SECURENODE_KEYSTORE_PASSWORD: 'ks-pass-123' })).exitCode, 0);
  const refused = await runCliAsNodeUser(['start', '--home', home]);
  t.same(refused, {
    exitCode: 65,
    stdout: '',
    stderr: `ERROR: the keystore ${homePaths(home).keystoreFile} is password-protected: set SECURENODE_KEYSTORE_PASSWORD, or run the command in a terminal to type the password\n`,
  });
});

t.test('a keystore deleted or emptied after the first start is said to be that, not a damaged http.p12', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const first = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: 'keystore-gone-1' } });
  t.teardown(() => first.signal('SIGKILL'));
  await first.httpPort();
  await first.stop();
  const { keystoreFile } = homePaths(home);
  await rename(keystoreFile, `${keystoreFile}.away`);
  t.same(await runCliAsNodeUser(['start', '--home', home, '-E', 'http.port=0', '-E', 'transport.port=0']), {
    exitCode: 78,
    stdout: '',
    stderr: `ERROR: the keystore ${keystoreFile} is missing, and it holds the password of certs/http.p12; restore it from a backup; without one, move the home away and start a new one (the certificates cannot be opened without their passwords)\n`,
  });
  // A keystore made anew holds no certificate password: the message says so, and suggests no `keystore create`.
  await runCliAsNodeUser(['keystore', 'create', '--home', home]);
  const emptied = await runCliAsNodeUser(['start', '--home', home, '-E', 'http.port=0', '-E', 'transport.port=0']);
  t.equal(emptied.exitCode, 78);
  t.equal(emptied.stderr, `ERROR: the keystore ${keystoreFile} holds no security.http.ssl.keystore.secure_password, the password of certs/http.p12; restore it from a backup; without one, move the home away and start a new one (the certificates cannot be opened without their passwords)\n`);
});

t.test('a config dir of mode 0000 is a message with the fix, not an unexpected failure', async (t) => {
  const home = await newHome(t);
  const { configDir, keystoreFile } = homePaths(home);
  await chmod(configDir, 0o000);
  t.teardown(() => chmod(configDir, 0o750));
  const result = await runCliAsNodeUser(['start', '--home', home]);
  t.equal(result.exitCode, 78);
  t.match(result.stderr, new RegExp(`^ERROR: securenode, running as \\S+ \\(uid \\d+\\), may not access ${keystoreFile} \\(EACCES\\); give that user access to it and to the directories above it \\(a home's directories are 0750, its files 0640 or 0600, all owned by the node's user\\), for example: chmod u\\+rwx ${configDir}\\n$`));
  t.notMatch(result.stderr, 'unexpected failure');
});

import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { runCli } from '../helpers/cli.js';
import { curl, statusOf } from '../helpers/curl.js';
import { startFakeVault } from '../helpers/fake-vault.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';

async function filesUnder(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(path)));
    else found.push(path);
  }
  return found;
}

t.test('the bootstrap password applies once, to an empty store; a later, different one is ignored and said so', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const ca = `${homePaths(home).certsDir}/http_ca.crt`;
  const first = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: 'first-password-1' } });
  t.teardown(() => first.signal('SIGKILL'));
  const port = await first.httpPort();
  await first.waitFor(/"event":"bootstrap_password_applied"/);
  t.equal(statusOf(await curl(port, ca, ['-u', 'elastic:first-password-1'])), '200');
  t.notMatch(first.output(), 'no_terminal', 'nothing to reset: the operator chose the password');
  await first.stop();

  const second = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: 'second-password-2' } });
  t.teardown(() => second.signal('SIGKILL'));
  const secondPort = await second.httpPort();
  await second.waitFor(/"event":"bootstrap_password_ignored"/);
  t.match(second.output(), 'the bootstrap password from ELASTIC_PASSWORD was ignored: it applies only to an empty security store, and the elastic user exists');
  t.equal(statusOf(await curl(secondPort, ca, ['-u', 'elastic:first-password-1'])), '200', 'the first password still works');
  t.equal(statusOf(await curl(secondPort, ca, ['-u', 'elastic:second-password-2'])), '401', 'the later one was not applied');
  await second.stop();
  const everything = [first.output(), second.output(), await readFile(`${homePaths(home).logsDir}/securenode.log`, 'utf8')].join('\n');
  t.notMatch(everything, /first-password-1|second-password-2/, 'no bootstrap value in any output or log');
});

t.test('a short bootstrap password is refused (78) and nothing is stored; ELASTIC_PASSWORD_FILE and the keystore work', async (t) => {
  const dir = await nodeOwnedDir(t);
  const short = await runCliAsNodeUser(['start', '--home', `${dir}/short`, '-E', 'http.port=0', '-E', 'transport.port=0'], { ELASTIC_PASSWORD: 'too-short' });
  t.equal(short.exitCode, 78);
  t.match(short.stdout + short.stderr, 'ERROR: the bootstrap password from ELASTIC_PASSWORD is shorter than 12 characters; set a longer one (nothing was stored)\n');
  t.notMatch(short.stdout + short.stderr, 'too-short');
  await t.rejects(stat(`${dir}/short/data/security.json`), { code: 'ENOENT' });

  await writeFile(`${dir}/pw-file`, 'from-a-file-123\n');
  await chmod(`${dir}/pw-file`, 0o644);
  const viaFile = await startNodeProcess(`${dir}/file`, { terminal: false, env: { ELASTIC_PASSWORD_FILE: `${dir}/pw-file` } });
  t.teardown(() => viaFile.signal('SIGKILL'));
  const port = await viaFile.httpPort();
  await viaFile.waitFor(/"event":"bootstrap_password_applied"/);
  t.equal(statusOf(await curl(port, `${dir}/file/config/certs/http_ca.crt`, ['-u', 'elastic:from-a-file-123'])), '200');
  await viaFile.stop();

  const keystoreHome = `${dir}/keystore`;
  t.equal((await runCliAsNodeUser(['keystore', 'create', '--home', keystoreHome])).exitCode, 0);
  t.equal((await runCliAsNodeUser(['keystore', 'add', 'bootstrap.password', '--stdin', '--home', keystoreHome], {}, 'from-keystore-12\n')).exitCode, 0);
  const viaKeystore = await startNodeProcess(keystoreHome, { terminal: false });
  t.teardown(() => viaKeystore.signal('SIGKILL'));
  const keystorePort = await viaKeystore.httpPort();
  await viaKeystore.waitFor(/"event":"bootstrap_password_applied","source":"the keystore setting bootstrap.password"/);
  t.equal(statusOf(await curl(keystorePort, `${keystoreHome}/config/certs/http_ca.crt`, ['-u', 'elastic:from-keystore-12'])), '200', 'the keystore bootstrap.password works');
  await viaKeystore.stop();
});

t.test('--credentials-file: a new 0600 file with the password; nothing secret on stdout; never overwritten', async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  const credentials = `${dir}/credentials.txt`;
  const node = await startNodeProcess(home, { terminal: false, args: ['--credentials-file', credentials] });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  await node.waitFor(/"event":"credentials_file_written"/);
  t.equal((await stat(credentials)).mode & 0o777, 0o600);
  const text = await readFile(credentials, 'utf8');
  const password = /Password for the elastic user[^\n]*\n {2}(\S+)\n/.exec(text)?.[1];
  t.match(password, /^[A-Za-z0-9*\-_=+]{20}$/);
  t.match(text, /HTTP CA certificate SHA-256 fingerprint:\n {2}[0-9a-f]{64}\n/);
  t.notMatch(text, /\u001b/, 'plain text, no escape codes');
  t.equal(statusOf(await curl(port, `${homePaths(home).certsDir}/http_ca.crt`, ['-u', `elastic:${password}`])), '200', 'the written password works');
  t.notMatch(node.output(), password!, 'the password is not on stdout');
  await node.stop();

  const again = await runCliAsNodeUser(['start', '--home', `${dir}/other`, '--credentials-file', credentials]);
  t.same(again, { exitCode: 73, stdout: '', stderr: `ERROR: the credentials file ${credentials} already exists; securenode never overwrites one: move it away or name a new file\n` });
  t.equal(await readFile(credentials, 'utf8'), text, 'the existing file is untouched');

  // After the whole first start: no password, token or .p12 password anywhere in the home, the logs or the output.
  const secrets = [password!];
  for (const setting of ['security.http.ssl.keystore.secure_password', 'security.transport.ssl.keystore.secure_password']) {
    secrets.push((await runCli(['keystore', 'show', setting, '--home', home])).stdout.trimEnd());
  }
  for (const file of await filesUnder(home)) {
    const content = await readFile(file, 'latin1');
    for (const secret of secrets) t.notOk(content.includes(secret), `${file.slice(home.length)} holds no secret`);
  }
  for (const secret of secrets) t.notOk(node.output().includes(secret), 'the output holds no secret');
});

t.test('env, file and hcv references are resolved through securenode start; the file keeps the reference', async (t) => {
  const dir = await nodeOwnedDir(t);
  const vault = await startFakeVault({ token: 'vault-token-1', v1: { 'secret/cluster': { name: 'from-hcv' } }, v2: {} });
  t.teardown(vault.close);
  await writeFile(`${dir}/node-name`, 'from-file-node\n');
  await chmod(`${dir}/node-name`, 0o644);
  const cases: [string, string, Record<string, string>, string[]][] = [
    ['env', 'from-env-cluster', { CLUSTER_NAME_SECRET: 'from-env-cluster' }, ['-E', 'cluster.name={vault://env/cluster-name-secret}']],
    ['file', 'securenode', {}, ['-E', `vault.file.path=${dir}`, '-E', 'node.name={vault://file/node-name}']],
    ['hcv', 'from-hcv', { VAULT_TOKEN: 'vault-token-1' }, ['-E', `vault.hcv.address=${vault.address}`, '-E', 'cluster.name={vault://hcv/cluster/name}']],
  ];
  for (const [backend, clusterName, env, args] of cases) {
    const home = `${dir}/${backend}`;
    const node = await startNodeProcess(home, { terminal: false, args, env: { ...env, ELASTIC_PASSWORD: 'bootstrap-pass-1' } });
    t.teardown(() => node.signal('SIGKILL'));
    const port = await node.httpPort();
    const answer = await curl(port, `${homePaths(home).certsDir}/http_ca.crt`, ['-u', 'elastic:bootstrap-pass-1']);
    const info = JSON.parse(answer.stdout.split('\n')[0]!);
    t.equal(info.cluster_name, clusterName, `${backend}: cluster name`);
    if (backend === 'file') {
      t.equal(info.name, 'from-file-node', 'file: node name');
      const yml = await readFile(homePaths(home).configFile, 'utf8');
      t.match(yml, 'cluster.initial_master_nodes: ["{vault://file/node-name}"]', 'the block holds the reference, not the value');
      t.notMatch(yml, 'from-file-node');
    }
    await node.stop();
    t.notMatch(await readFile(`${homePaths(home).logsDir}/securenode.log`, 'utf8'), /from-env-cluster|from-hcv|from-file-node/, `${backend}: no resolved value in the log`);
  }
  const broken = await runCliAsNodeUser(['start', '--home', `${dir}/broken`, '-E', 'cluster.name={vault://env/nowhere}']);
  t.same(broken, { exitCode: 78, stdout: '', stderr: "ERROR: failed to dereference '{vault://env/nowhere}': no value found (environment variable NOWHERE is not set) for setting 'cluster.name'\n" });
});

t.test('a secret readable by others stops the start, naming the file and the fix', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const node = await startNodeProcess(home, { terminal: false });
  t.teardown(() => node.signal('SIGKILL'));
  await node.httpPort();
  await node.stop();
  const { keystoreFile } = homePaths(home);
  await chmod(keystoreFile, 0o644);
  const refused = await runCliAsNodeUser(['start', '--home', home]);
  t.equal(refused.exitCode, 78);
  t.equal(refused.stderr, `ERROR: files that hold keys or secrets are readable by more than their owner: ${keystoreFile} has mode 0644 (fix: chmod 600 ${keystoreFile})\n`);
});

// The commands run in this process (through run(), with an injected io), so that
// their code counts in coverage; test/e2e/ runs the same commands as real processes.
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import t from 'tap';
import { run } from '../../src/cli/main.js';
import { homePaths } from '../../src/home/layout.js';
import { httpsJson } from '../helpers/https.js';
import { memoryIo } from '../helpers/memory-io.js';

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('start, reset-password online and offline, in process', async (t) => {
  // One t.testdir() per test: each call recreates the directory.
  const dir = t.testdir();
  const home = `${dir}/home`;
  const credentials = `${dir}/credentials.txt`;
  const node = memoryIo({ ELASTIC_PASSWORD: 'in-process-pass-1' });
  t.teardown(() => void process.emit('SIGTERM'));
  const started = run(['start', '--allow-root', '--home', home, '-E', 'http.port=0', '-E', 'transport.port=0', '-E', 'http.host=127.0.0.1', '-v', '--credentials-file', credentials], node.io);
  await until(() => node.stdout().includes('"event":"node_started"'), 'the node to start');
  const port = Number(/"http":"127\.0\.0\.1:(\d+)"/.exec(node.stdout())![1]);
  const ca = await readFile(`${homePaths(home).certsDir}/http_ca.crt`, 'utf8');
  await until(() => node.stdout().includes('"event":"credentials_file_written"'), 'the credentials file');
  t.match(await readFile(credentials, 'utf8'), 'The elastic user has the password given in ELASTIC_PASSWORD (not shown).');
  t.equal((await httpsJson({ port, ca, auth: 'elastic:in-process-pass-1' })).status, 200);

  const online = memoryIo();
  t.equal(await run(['reset-password', '-u', 'elastic', '-b', '-s', '--home', home], online.io), 0, online.stderr());
  const password = online.stdout().trim();
  t.equal((await httpsJson({ port, ca, auth: `elastic:${password}` })).status, 200);
  t.equal((await httpsJson({ port, ca, auth: 'elastic:in-process-pass-1' })).status, 401);

  const minted = memoryIo();
  t.equal(await run(['create-enrollment-token', '-s', 'client', '--home', home], minted.io), 0, minted.stderr());
  const enrolled = memoryIo();
  const out = `${dir}/client`;
  t.equal(await run(['enroll', '--enrollment-token', minted.stdout().trim(), '--out', out], enrolled.io), 0, enrolled.stderr());
  t.match(await readFile(`${out}/client.yml`, 'utf8'), /^hosts:\n/);
  const bogus = memoryIo();
  t.equal(await run(['create-enrollment-token', '-s', 'client', '--ttl', 'soon', '--home', home], bogus.io), 64);

  // A second node joins with a node token; one SIGTERM stops both.
  const nodeToken = memoryIo();
  t.equal(await run(['create-enrollment-token', '-s', 'node', '--home', home], nodeToken.io), 0, nodeToken.stderr());
  const joiner = memoryIo();
  const joined = run(['start', '--allow-root', '--home', `${dir}/joiner`, '-E', 'http.port=0', '-E', 'transport.port=0', '-E', 'node.name=joiner', '--enrollment-token', nodeToken.stdout().trim()], joiner.io);
  await until(() => joiner.stdout().includes('"event":"node_started"'), 'the joining node to start');
  t.match(joiner.stdout(), '"event":"enrolled"');
  t.equal(await readFile(`${homePaths(`${dir}/joiner`).certsDir}/http_ca.crt`, 'utf8'), ca, "the joining node has the cluster's HTTP CA");

  process.emit('SIGTERM');
  t.equal(await started, 0);
  t.equal(await joined, 0);
  t.match(node.stdout(), '"event":"node_stopping"');

  const offline = memoryIo({}, 'y\n');
  t.equal(await run(['reset-password', '-u', 'elastic', '--home', home], offline.io), 0, offline.stderr());
  t.match(offline.stdout(), /^Password for the \[elastic\] user successfully reset\.\nNew value: \S{20}\n$/);
  const cancelled = memoryIo({}, 'no\n');
  t.equal(await run(['reset-password', '-u', 'elastic', '-i', '--home', home], cancelled.io), 0);
  t.equal(cancelled.stdout(), 'User cancelled operation\n');

  const again = memoryIo({ ELASTIC_PASSWORD: 'another-password-2' });
  const restarted = run(['start', '--allow-root', '--home', home, '-E', 'http.port=0', '-E', 'transport.port=0', '-v', '--credentials-file', `${credentials}.2`], again.io);
  await until(() => again.stdout().includes('"event":"node_started"'), 'the second start');
  await until(() => again.stdout().includes('"event":"credentials_file_unused"'), 'the second start to finish its first-user step');
  t.match(again.stderr(), 'Skipping security auto-configuration because the data path');
  t.match(again.stdout(), '"event":"bootstrap_password_ignored"');
  process.emit('SIGTERM');
  t.equal(await restarted, 0);
});

t.test('errors map to exit codes in process, never with a stack trace', async (t) => {
  const home = `${t.testdir()}/home`;
  const usage = memoryIo();
  t.equal(await run(['reset-password', '-u', 'elastic', '-a', '-i', '--home', home], usage.io), 64);
  t.equal(usage.stderr(), 'ERROR: You can only run the tool in one of [auto] or [interactive] modes\n');
  const missing = memoryIo();
  t.equal(await run(['reset-password', '-u', 'elastic', '-b', '--home', home], missing.io), 78, 'no home: no securenode.yml');
  t.match(missing.stderr(), /^ERROR: the configuration file .* does not exist/);
  const odd = memoryIo();
  t.equal(await run(['start', '--allow-root', '--home', home, '--credentials-file', '/'], odd.io), 73);
  t.equal(odd.stderr().split('\n').filter(Boolean).at(-1), 'ERROR: the credentials file / already exists; securenode never overwrites one: move it away or name a new file');
});

t.test('a command loads only what it needs: keystore list and reset-password load neither the server, nor the PostgreSQL client, nor the spinner', async (t) => {
  const main = new URL('../../src/cli/main.js', import.meta.url).href;
  const script = [
    `import { run } from ${JSON.stringify(main)};`,
    "import { createRequire } from 'node:module';",
    'const code = await run(JSON.parse(process.env.SECURENODE_TEST_ARGS));',
    'const loaded = Object.keys(createRequire(import.meta.url).cache);',
    "console.log(JSON.stringify({ code, heavy: ['/fastify/', '/pg/', '/ora/', '/node-forge/'].filter((name) => loaded.some((path) => path.includes(name))) }));",
  ].join('\n');
  const home = `${t.testdir()}/home`;
  // The arguments in the environment: after -e, node would take --help as its own.
  const runIn = (args: string[]) => execa(process.execPath, ['--input-type=module', '-e', script], { reject: false, env: { SECURENODE_TEST_ARGS: JSON.stringify(args) } });
  const listed = await runIn(['keystore', 'list', '--home', home]);
  t.same(JSON.parse(listed.stdout.trim().split('\n').at(-1)!), { code: 78, heavy: [] }, listed.stderr);
  const reset = await runIn(['reset-password', '-u', 'elastic', '-b', '--home', home]);
  t.same(JSON.parse(reset.stdout.trim().split('\n').at(-1)!).heavy, [], 'reset-password on a file store loads no PostgreSQL client, server or spinner either');
  const help = await runIn(['--help']);
  t.match(JSON.parse(help.stdout.trim().split('\n').at(-1)!), { code: 0, heavy: ['/fastify/', '/pg/'] }, 'help lists every command, so it loads them all');
});

t.test('--version and -V print the version alone, with no command loaded', async (t) => {
  for (const flag of ['--version', '-V']) {
    const io = memoryIo();
    t.equal(await run([flag], io.io), 0, flag);
    t.equal(io.stdout(), '0.1.0\n');
  }
  // A separate process, so that what the command line imports is its own: not the node's server.
  const loaded = await execa(process.execPath, ['--input-type=module', '-e', `const { run } = await import(${JSON.stringify(new URL('../../src/cli/main.js', import.meta.url).href)}); await run(['--version'], { stdout: { write() {} }, stderr: process.stderr, stdin: process.stdin, env: {} }); const { createRequire } = await import('node:module'); console.log(Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/fastify/')))`]);
  t.equal(loaded.stdout.trim(), 'false', 'fastify is not loaded');
});

t.test('the keystore commands and an unknown command, in process', async (t) => {
  const dir = t.testdir({ 'ca.pem': 'PEM\n' });
  const home = `${dir}/home`;
  const keystore = `${home}/config/securenode.keystore`;
  const inProcess = async (args: string[], input = '') => {
    const io = memoryIo({}, input);
    const exitCode = await run([...args, '--home', home], io.io);
    return { exitCode, stdout: io.stdout(), stderr: io.stderr() };
  };
  t.same(await inProcess(['keystore', 'create']), { exitCode: 0, stdout: `Created the keystore ${keystore} (no password: its content is obfuscated, not protected).\n`, stderr: '' });
  t.same(await inProcess(['keystore', 'has-passwd']), { exitCode: 1, stdout: 'The keystore is not password-protected.\n', stderr: '' });
  t.same(await inProcess(['keystore', 'add', 'bootstrap.password', '--stdin'], 'correct horse battery\n'), { exitCode: 0, stdout: '', stderr: '' });
  t.same(await inProcess(['keystore', 'add-file', 'vault.ca', `${dir}/ca.pem`]), { exitCode: 0, stdout: '', stderr: '' });
  t.same(await inProcess(['keystore', 'list']), { exitCode: 0, stdout: 'bootstrap.password\nvault.ca\n', stderr: '' });
  t.same(await inProcess(['keystore', 'show', 'vault.ca']), { exitCode: 0, stdout: 'PEM\n', stderr: '' });
  t.same(await inProcess(['keystore', 'add', 'bootstrap.password', '--stdin'], 'other'), {
    exitCode: 73,
    stdout: '',
    stderr: 'ERROR: the setting bootstrap.password already exists in the keystore; nothing was changed (use -f to overwrite it)\n',
  });
  t.same(await inProcess(['keystore', 'remove', 'bootstrap.password']), { exitCode: 0, stdout: '', stderr: '' });
  t.same(await inProcess(['keystore', 'show', 'bootstrap.password']), { exitCode: 78, stdout: '', stderr: `ERROR: the setting bootstrap.password is not in the keystore ${keystore} (\`npx securenode keystore list --home ${home}\` shows what is)\n` });
  const unknown = memoryIo();
  t.equal(await run(['strat'], unknown.io), 64);
  t.equal(unknown.stderr(), "securenode: 'strat' is not a command. See 'securenode --help'.\n\nThe most similar command is\n\tstart\n");
});

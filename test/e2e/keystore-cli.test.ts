import { readFile, stat, writeFile } from 'node:fs/promises';
import t from 'tap';
import { runCli, runInTerminal } from '../helpers/cli.js';
import { templatePath } from '../../src/home/create-home.js';

const error = (message: string) => `ERROR: ${message}\n`;

t.test('create on a new home makes the home from the template and an unprotected keystore, 0600', async (t) => {
  const home = `${t.testdir()}/home`;
  const keystore = `${home}/config/securenode.keystore`;
  const created = await runCli(['keystore', 'create', '--home', home]);
  t.same(created, { exitCode: 0, stdout: `Created the keystore ${keystore} (no password: its content is obfuscated, not protected).\n`, stderr: '' });
  t.equal((await stat(keystore)).mode & 0o777, 0o600);
  t.equal((await stat(`${home}/config`)).mode & 0o777, 0o750);
  t.equal(await readFile(`${home}/config/securenode.yml`, 'utf8'), await readFile(templatePath('securenode.yml'), 'utf8'));
  t.same(await runCli(['keystore', 'has-passwd', '--home', home]), { exitCode: 1, stdout: 'The keystore is not password-protected.\n', stderr: '' });
  t.same(await runCli(['keystore', 'list', '--home', home]), { exitCode: 0, stdout: '', stderr: '' });

  const before = await readFile(keystore);
  t.same(await runCli(['keystore', 'create', '--home', home]), {
    exitCode: 73,
    stdout: '',
    stderr: error(`a keystore already exists at ${keystore}; nothing was changed (use -f to overwrite it)`),
  });
  t.same(await readFile(keystore), before, 'refusing to overwrite changed nothing');
  t.equal((await runCli(['keystore', 'create', '-f', '--home', home])).exitCode, 0);
  t.not((await readFile(keystore)).toString(), before.toString(), '-f wrote a new keystore');
});

t.test('SECURENODE_HOME is the home when --home is not given', async (t) => {
  const home = `${t.testdir()}/via-env`;
  const result = await runCli(['keystore', 'create'], { env: { SECURENODE_HOME: home } });
  t.equal(result.exitCode, 0);
  t.equal((await stat(`${home}/config/securenode.keystore`)).isFile(), true);
});

t.test('add, add-file, list, show and remove, with their errors', async (t) => {
  const dir = t.testdir({ 'ca.pem': Buffer.from([0x2d, 0x00, 0xff, 0x0a]) });
  const home = `${dir}/home`;
  const keystore = `${home}/config/securenode.keystore`;
  await runCli(['keystore', 'create', '--home', home]);
  t.same(await runCli(['keystore', 'add', 'bootstrap.password', '--stdin', '--home', home], { input: 'correct horse battery\n' }), { exitCode: 0, stdout: '', stderr: '' });
  t.same(await runCli(['keystore', 'add', 'vault.hcv.token', '--home', home], { input: 'tok-1\nignored second line\n' }), { exitCode: 0, stdout: '', stderr: '' }, 'without a terminal, the first line of stdin');
  t.same(await runCli(['keystore', 'add-file', 'vault.ca', `${dir}/ca.pem`, '--home', home]), { exitCode: 0, stdout: '', stderr: '' });
  t.same(await runCli(['keystore', 'list', '--home', home]), { exitCode: 0, stdout: 'bootstrap.password\nvault.ca\nvault.hcv.token\n', stderr: '' });
  t.same(await runCli(['keystore', 'show', 'bootstrap.password', '--home', home]), { exitCode: 0, stdout: 'correct horse battery\n', stderr: '' });
  t.same(await runCli(['keystore', 'show', 'vault.hcv.token', '--home', home]), { exitCode: 0, stdout: 'tok-1\n', stderr: '' });
  const raw = await runCli(['keystore', 'show', 'vault.ca', '--home', home]);
  t.equal(raw.stdout, Buffer.from([0x2d, 0x00, 0xff, 0x0a]).toString('utf8'), 'file settings come back as their bytes');

  const before = await readFile(keystore);
  t.same(await runCli(['keystore', 'add', 'bootstrap.password', '--stdin', '--home', home], { input: 'other' }), {
    exitCode: 73,
    stdout: '',
    stderr: error('the setting bootstrap.password already exists in the keystore; nothing was changed (use -f to overwrite it)'),
  });
  t.same(await readFile(keystore), before);
  t.equal((await runCli(['keystore', 'add', 'bootstrap.password', '--stdin', '-f', '--home', home], { input: 'replaced' })).exitCode, 0);
  t.equal((await runCli(['keystore', 'show', 'bootstrap.password', '--home', home])).stdout, 'replaced\n');

  t.same(await runCli(['keystore', 'add', 'Bad Name', '--stdin', '--home', home], { input: 'x' }), {
    exitCode: 64,
    stdout: '',
    stderr: error("invalid setting name 'Bad Name': use lower-case letters, digits, '_', '-' and '.', e.g. bootstrap.password"),
  });
  t.same(await runCli(['keystore', 'add', 'empty.stdin', '--home', home], { input: '' }), {
    exitCode: 65,
    stdout: '',
    stderr: error('expected the value of empty.stdin on standard input, but it was empty'),
  });
  t.same(await runCli(['keystore', 'add-file', 'x.file', `${dir}/nope`, '--home', home]), {
    exitCode: 74,
    stdout: '',
    stderr: error(`cannot read ${dir}/nope: ENOENT; nothing was changed`),
  });
  const missing = error(`the setting nope is not in the keystore ${keystore} (\`npx securenode keystore list --home ${home}\` shows what is)`);
  t.same(await runCli(['keystore', 'show', 'nope', '--home', home]), { exitCode: 78, stdout: '', stderr: missing });
  t.same(await runCli(['keystore', 'remove', 'nope', '--home', home]), { exitCode: 78, stdout: '', stderr: missing });
  t.same(await runCli(['keystore', 'remove', 'vault.ca', '--home', home]), { exitCode: 0, stdout: '', stderr: '' });
  t.equal((await runCli(['keystore', 'list', '--home', home])).stdout, 'bootstrap.password\nvault.hcv.token\n');
  t.equal((await stat(keystore)).mode & 0o777, 0o600, 'still 0600 after every rewrite');
});

t.test('passwords: passwd, the environment, wrong passwords and damaged files change nothing', async (t) => {
  const home = `${t.testdir()}/home`;
  const keystore = `${home}/config/securenode.keystore`;
  await runCli(['keystore', 'create', '--home', home]);
  await runCli(['keystore', 'add', 'a.secret', '--stdin', '--home', home], { input: 'value-a' });
  t.same(await runCli(['keystore', 'passwd', '--home', home], { input: 's3cret pass\n' }), { exitCode: 0, stdout: 'The keystore password was changed.\n', stderr: '' });
  t.same(await runCli(['keystore', 'has-passwd', '--home', home]), { exitCode: 0, stdout: 'The keystore is password-protected.\n', stderr: '' });

  const before = await readFile(keystore);
  t.same(await runCli(['keystore', 'list', '--home', home]), {
    exitCode: 65,
    stdout: '',
    stderr: error(`the keystore ${keystore} is password-protected: set SECURENODE_KEYSTORE_PASSWORD, or run the command in a terminal to type the password`),
  });
  const wrong = error(`the keystore password is wrong, or the keystore ${keystore} was altered; nothing was changed`);
  t.same(await runCli(['keystore', 'add', 'b.secret', '--stdin', '--home', home], { input: 'v', env: { SECURENODE_KEYSTORE_PASSWORD: 'guess' } }), { exitCode: 65, stdout: '', stderr: wrong });
  t.same(await readFile(keystore), before, 'a wrong password changed nothing');
  t.same(await runCli(['keystore', 'show', 'a.secret', '--home', home], { env: { SECURENODE_KEYSTORE_PASSWORD: 's3cret pass' } }), { exitCode: 0, stdout: 'value-a\n', stderr: '' });

  const envelope = JSON.parse(before.toString()) as Record<string, string>;
  const ciphertext = Buffer.from(envelope.ciphertext!, 'base64');
  ciphertext[3] = ciphertext[3]! ^ 0x40;
  await writeFile(keystore, JSON.stringify({ ...envelope, ciphertext: ciphertext.toString('base64') }));
  const tampered = await readFile(keystore);
  t.same(await runCli(['keystore', 'add', 'c.secret', '--stdin', '--home', home], { input: 'v', env: { SECURENODE_KEYSTORE_PASSWORD: 's3cret pass' } }), { exitCode: 65, stdout: '', stderr: wrong });
  t.same(await readFile(keystore), tampered, 'a tampered file is left as it is');

  await writeFile(keystore, before.subarray(0, 100));
  t.same(await runCli(['keystore', 'list', '--home', home], { env: { SECURENODE_KEYSTORE_PASSWORD: 's3cret pass' } }), {
    exitCode: 65,
    stdout: '',
    stderr: error(`the keystore ${keystore} is damaged (it is truncated or not a securenode keystore); restore it from a backup: a new keystore cannot bring back the passwords of the node's certificates, so without a backup move the home away and start a new one`),
  });
  t.equal((await readFile(keystore)).length, 100, 'a truncated file is left as it is');
});

t.test('SECURENODE_KEYSTORE_PASSWORD protects a new keystore; a missing keystore says how to create one', async (t) => {
  const home = `${t.testdir()}/home`;
  const keystore = `${home}/config/securenode.keystore`;
  const env = { SECURENODE_KEYSTORE_PASSWORD: 'from-env' };
  t.same(await runCli(['keystore', 'create', '--home', home], { env }), { exitCode: 0, stdout: `Created the keystore ${keystore}.\n`, stderr: '' });
  t.equal((await runCli(['keystore', 'has-passwd', '--home', home])).exitCode, 0);
  t.equal((await runCli(['keystore', 'list', '--home', home], { env })).exitCode, 0);
  const other = `${t.testdir()}/other`;
  await runCli(['keystore', 'create', '--home', other]);
  await writeFile(`${other}/config/gone`, '');
  const { rm } = await import('node:fs/promises');
  await rm(`${other}/config/securenode.keystore`);
  const absent = error(`no keystore at ${other}/config/securenode.keystore; create one with \`npx securenode keystore create --home ${other}\``);
  t.same(await runCli(['keystore', 'list', '--home', other]), { exitCode: 78, stdout: '', stderr: absent });
  t.same(await runCli(['keystore', 'has-passwd', '--home', other]), { exitCode: 78, stdout: '', stderr: absent });
});

t.test('a config dir without securenode.yml is a configuration error, never re-created', async (t) => {
  const home = t.testdir({ config: { 'other.txt': 'x' } });
  t.same(await runCli(['keystore', 'create', '--home', home]), {
    exitCode: 78,
    stdout: '',
    stderr: error(`the config dir ${home}/config exists but holds no securenode.yml; restore it, or remove the config dir to have a new one created from the template`),
  });
});

t.test('usage errors exit 64; help and version exit 0', async (t) => {
  const unknown = await runCli(['keystore', 'bogus']);
  t.equal(unknown.exitCode, 64);
  t.match(unknown.stderr, "error: unknown command 'bogus'");
  t.equal((await runCli(['keystore', 'add'])).exitCode, 64, 'a missing argument');
  t.equal((await runCli(['nothing-here'])).exitCode, 64);
  t.equal((await runCli([])).exitCode, 64, 'no command prints help and is a usage error');
  const help = await runCli(['keystore', '--help']);
  t.equal(help.exitCode, 0);
  t.match(help.stdout, /has-passwd/);
  t.same(await runCli(['--version']), { exitCode: 0, stdout: '0.1.0\n', stderr: '' });
  const settings = await runCli(['--help-settings']);
  t.equal(settings.exitCode, 0);
  t.match(settings.stdout, /^http\.port  \[number 0-65535\]  default: 9200\n    Port of the HTTPS API/m);
  t.match(settings.stdout, /^security\.rbac\.enforce  \[on \| entity \| both \| off\]  default: "on"$/m);
  t.same(await runCli(['start', '--help-settings']), { exitCode: 0, stdout: settings.stdout, stderr: '' }, 'start --help-settings lists the settings and starts nothing');

  // As git does: an unknown command, with the nearest one when it is close; `help <command>`.
  t.same(await runCli(['frobnicate']), { exitCode: 64, stdout: '', stderr: "securenode: 'frobnicate' is not a command. See 'securenode --help'.\n" });
  t.same(await runCli(['strat']), { exitCode: 64, stdout: '', stderr: "securenode: 'strat' is not a command. See 'securenode --help'.\n\nThe most similar command is\n\tstart\n" });
  const helpStart = await runCli(['help', 'start']);
  t.equal(helpStart.exitCode, 0);
  t.match(helpStart.stdout, /^Usage: securenode start \[options\]\n/);
  t.match((await runCli(['help', 'keystore'])).stdout, /has-passwd/);
  const helpAll = await runCli(['help']);
  t.equal(helpAll.exitCode, 0);
  t.match(helpAll.stdout, /^Usage: securenode \[options\] \[command\]\n/);
});

t.test('at a terminal: passwords are asked twice and never echoed; values are asked without echo', async (t) => {
  const home = `${t.testdir()}/home`;
  const created = await runInTerminal(['keystore', 'create', '-p', '--home', home], {
    answers: [
      { prompt: /Enter new password for the securenode keystore \(empty for no password\): $/, answer: 'TypedPassw0rd' },
      { prompt: /Enter same password again: $/, answer: 'TypedPassw0rd' },
    ],
  });
  t.equal(created.exitCode, 0, created.output);
  t.match(created.output, `Created the keystore ${home}/config/securenode.keystore.`);
  t.notMatch(created.output, /TypedPassw0rd/, 'the password is not echoed');

  const added = await runInTerminal(['keystore', 'add', 'x.token', '--home', home], {
    answers: [
      { prompt: /Enter password for the securenode keystore: $/, answer: 'TypedPassw0rd' },
      { prompt: /Enter value for x\.token: $/, answer: 'TopSecretValue' },
    ],
  });
  t.equal(added.exitCode, 0, added.output);
  t.notMatch(added.output, /TypedPassw0rd|TopSecretValue/);
  t.equal((await runCli(['keystore', 'show', 'x.token', '--home', home], { env: { SECURENODE_KEYSTORE_PASSWORD: 'TypedPassw0rd' } })).stdout, 'TopSecretValue\n');

  const overwrite = await runInTerminal(['keystore', 'add', 'x.token', '--home', home], {
    answers: [
      { prompt: /Enter password for the securenode keystore: $/, answer: 'TypedPassw0rd' },
      { prompt: /Setting x\.token already exists\. Overwrite\? \[y\/N\] $/, answer: 'n' },
    ],
  });
  t.equal(overwrite.exitCode, 73, overwrite.output);

  const mismatch = await runInTerminal(['keystore', 'passwd', '--home', home], {
    answers: [
      { prompt: /Enter password for the securenode keystore: $/, answer: 'TypedPassw0rd' },
      { prompt: /\(empty for no password\): $/, answer: 'one' },
      { prompt: /Enter same password again: $/, answer: 'two' },
    ],
  });
  t.equal(mismatch.exitCode, 65);
  t.match(mismatch.output, 'ERROR: the passwords do not match; nothing was changed');
  t.equal((await runCli(['keystore', 'list', '--home', home], { env: { SECURENODE_KEYSTORE_PASSWORD: 'TypedPassw0rd' } })).exitCode, 0, 'the old password still opens it');
});

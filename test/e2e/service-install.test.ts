import { spawn } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { checkout, copyCheckout } from '../helpers/checkout-copy.js';
import { ledgerActive, remember } from '../helpers/secrets-ledger.js';

/*
 * README's "Running as a service", run line by line as root, as written, but in
 * a sandbox directory: /var/lib/securenode, /etc/securenode and
 * /etc/systemd/system become directories of the sandbox, `npm install -g` goes
 * to a prefix there (npm_config_prefix, the sandbox's /usr), and the checkout is
 * a copy that shares node_modules (so `npm ci`, already done, is left out). A
 * container has no systemd as PID 1: `systemctl enable --now` is played by this
 * test from the installed unit (its User, Group, Environment, LoadCredential,
 * UMask and ExecStart), after systemd-analyze has verified the unit and rated
 * its exposure.
 */

const root = process.getuid?.() === 0;

/** The README's service steps, one command a line. */
async function documentedSteps(): Promise<string[]> {
  const readme = await readFile(join(checkout, 'README.md'), 'utf8');
  const block = /<!-- service-steps[^>]*-->\n```sh\n([\s\S]*?)```/.exec(readme);
  if (!block) throw new Error('README.md has no service-steps block');
  return block[1]!.trim().split('\n');
}

/** Play `systemctl start` for a unit: its user, environment, credentials and umask, and its ExecStart from the PATH systemd searches. */
async function startUnit(unitText: string, sandbox: string, searchPath: string) {
  const values = (key: string): string[] => [...unitText.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((match) => match[1]!);
  const [user] = values('User');
  const [group] = values('Group');
  const uid = Number((await execa('id', ['-u', user!])).stdout);
  const gid = Number((await execa('getent', ['group', group!])).stdout.split(':')[2]);
  // LoadCredential: a directory that only the service's user reads, with a copy of each file.
  const credentials = join(sandbox, 'run', 'credentials', 'securenode.service');
  await mkdir(credentials, { recursive: true });
  for (const credential of values('LoadCredential')) {
    const [name, path] = credential.split(/:(.*)/) as [string, string];
    await copyFile(path, join(credentials, name));
    await chown(join(credentials, name), uid, gid);
    await chmod(join(credentials, name), 0o400);
  }
  await chown(credentials, uid, gid);
  await chmod(credentials, 0o500);
  const environment = values('Environment').map((line) => line.replaceAll('%d', credentials));
  const [command, ...args] = values('ExecStart')[0]!.split(' ');
  const executable = command!.startsWith('/') ? command! : join(searchPath, command!);
  const [umask] = values('UMask');
  const argv = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', 'env', '-i', `PATH=${searchPath}:/usr/bin:/bin`, ...environment, 'sh', '-c', `umask ${umask}; exec "$@"`, 'sh', executable, ...args, '-E', 'http.port=0', '-E', 'transport.port=0'];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const port = await new Promise<number>((done, fail) => {
    const timer = setInterval(() => {
      const match = /"event":"node_started","http":"[^"]*:(\d+)"/.exec(output);
      if (match) {
        clearInterval(timer);
        done(Number(match[1]));
      }
    }, 100);
    void exited.then(() => {
      clearInterval(timer);
      fail(new Error(`the service exited: ${output}`));
    });
  });
  return { port, output: () => output, exited, stop: async () => (child.kill('SIGTERM'), await exited), kill: () => child.kill('SIGKILL'), uid, gid };
}

t.test('README: running as a service, step by step', { skip: !root && 'installs a package and creates a system user: runs as root (CI does)' }, async (t) => {
  const steps = await documentedSteps();
  t.same(
    steps.map((line) => line.split(' ')[0]),
    ['npm', 'npm', 'useradd', 'install', 'install', '(umask', 'install', 'systemctl', 'curl'],
    'the documented steps, in order (a change to them needs a change here)',
  );
  const sandbox = await mkdtemp(join(tmpdir(), 'securenode-service-'));
  await chmod(sandbox, 0o755);
  // Under tap, the secrets scan after the suite reads what is left of the sandbox (the node's home), then removes it; the rest (the password file among it) goes at the end of the test.
  if (ledgerActive()) remember({ kind: 'dir', path: sandbox });
  t.teardown(() => (ledgerActive() ? Promise.all(['etc', 'usr', 'run', 'checkout', 'securenode.service'].map((entry) => rm(join(sandbox, entry), { recursive: true, force: true }))) : rm(sandbox, { recursive: true, force: true })));
  const inSandbox = (text: string): string => text.replace(/\/var\/lib\/securenode|\/etc\/securenode|\/etc\/systemd\/system/g, (path) => `${sandbox}${path}`);
  await mkdir(join(sandbox, 'var', 'lib'), { recursive: true });
  await mkdir(join(sandbox, 'etc', 'systemd', 'system'), { recursive: true });
  const copy = join(sandbox, 'checkout');
  await copyCheckout(copy);
  const prefix = join(sandbox, 'usr');
  const env = { ...process.env, npm_config_prefix: prefix, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', PATH: `${prefix}/bin:${process.env.PATH}` };
  const userExisted = (await execa('id', ['-u', 'securenode'], { reject: false })).exitCode === 0;
  if (!userExisted) t.teardown(() => execa('userdel', ['securenode'], { reject: false }));

  const run = async (line: string) => {
    const result = await execa('bash', ['-c', line], { cwd: copy, env, reject: false, all: true });
    t.equal(result.exitCode, 0, `${line}\n${result.all}`);
    return result;
  };
  const [packStep, installStep, userStep, homeStep, etcStep, passwordStep, unitStep, systemctlStep, curlStep] = steps.map(inSandbox);
  await run(packStep!.replace(/^npm ci && /, ''));
  await run(installStep!);
  t.equal((await execa('bash', ['-c', 'command -v securenode'], { env })).stdout, `${prefix}/bin/securenode`, 'the package put securenode on the PATH');
  await run(userExisted ? `id -u securenode` : userStep!);
  await run(homeStep!);
  await run(etcStep!);
  await run(passwordStep!);
  await run(unitStep!);
  const passwordFile = `${sandbox}/etc/securenode/elastic-password`;
  const password = (await readFile(passwordFile, 'utf8')).trim();
  t.match(password, /^[A-Za-z0-9+/]{24}$/, 'a 24-character password');
  t.equal((await stat(passwordFile)).mode & 0o777, 0o600);
  remember({ kind: 'secret', value: password, source: 'the service\'s elastic-password file' });
  t.equal(systemctlStep, 'systemctl daemon-reload && systemctl enable --now securenode', 'the step this test plays');

  // What systemd would check, then what it would run.
  const unit = inSandbox(await readFile(`${sandbox}/etc/systemd/system/securenode.service`, 'utf8'));
  const verifiable = join(sandbox, 'securenode.service');
  await writeFile(verifiable, unit.replace(/^ExecStart=securenode /m, `ExecStart=${prefix}/bin/securenode `));
  const verify = await execa('systemd-analyze', ['verify', verifiable], { reject: false, all: true });
  t.same([verify.exitCode, verify.all], [0, ''], 'systemd-analyze verify finds nothing to say');
  const security = await execa('systemd-analyze', ['security', '--offline=yes', '--threshold=20', '--no-pager', verifiable], { reject: false });
  t.equal(security.exitCode, 0, `exposure at most 2.0: ${/Overall exposure level[^\n]*/.exec(security.stdout)?.[0]}`);
  t.match(unit, /^NoNewPrivileges=yes$/m);
  t.match(unit, /^ProtectSystem=strict$/m);

  const service = await startUnit(unit, sandbox, `${prefix}/bin`);
  t.teardown(() => service.kill());
  const curl = await run(`${curlStep!.replace('https://localhost:9200/', `https://localhost:${service.port}/`)} -sS`);
  t.match(JSON.parse(curl.stdout), { tagline: 'Secure on first start' }, 'the documented curl gets in with the password from the file');
  const consolePage = await execa('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', `${sandbox}/var/lib/securenode/config/certs/http_ca.crt`, `https://localhost:${service.port}/_console/`]);
  t.equal(consolePage.stdout, '200', 'the installed package serves its console');
  t.notMatch(service.output(), password, 'the password is in no log line');
  void service.exited.then(() => remember({ kind: 'output', command: 'start (systemd unit)', terminal: false, text: service.output() }));
  const home = await stat(`${sandbox}/var/lib/securenode/data/security.json`);
  t.same([home.uid, home.gid], [service.uid, service.gid], 'the home is the service user\'s');

  // Getting in later, as README says: reset-password as root with the node running; the files stay the service user's.
  const reset = await execa('securenode', ['reset-password', '-u', 'elastic', '-b', '-s', '--home', `${sandbox}/var/lib/securenode`, '--url', `https://localhost:${service.port}`], { env, reject: false });
  t.equal(reset.exitCode, 0, reset.stderr);
  remember({ kind: 'secret', value: reset.stdout.trim(), source: 'reset-password on the service' });
  const again = await execa('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', `${sandbox}/var/lib/securenode/config/certs/http_ca.crt`, '-u', `elastic:${reset.stdout.trim()}`, `https://localhost:${service.port}/`]);
  t.equal(again.stdout, '200', 'the new password gets in');
  t.equal(await service.stop(), 0, 'SIGTERM (systemctl stop) is a clean exit');
  const after = await stat(`${sandbox}/var/lib/securenode/data/security.json`);
  t.same([after.uid, after.gid], [service.uid, service.gid]);
});

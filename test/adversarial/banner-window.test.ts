// Attack (of bad luck): kill -9 between storing the elastic user's generated
// password and showing it. The next start must say that nobody may have seen
// the password, and what to run; once it is reset, it says nothing more.
import { chown, readFile, stat } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { markPasswordUnseen } from '../../src/node/unseen-password.js';
import { prepareFirstUser, showFirstUser } from '../../src/node/first-user.js';
import { autoConfigure } from '../../src/autoconfig/auto-configure.js';
import { createLogger } from '../../src/logging/logger.js';
import { FileStore } from '../../src/security/file-store.js';
import { homePaths } from '../../src/home/layout.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';

const warning = (home: string) =>
  `WARNING: the first start of this node stopped after it stored the password of the elastic user and before it showed it, so nobody may have seen it. Set a new one with:\n  npx securenode reset-password -u elastic --home ${home}\n`;

t.test('a banner that could not be written leaves the mark; the next start warns', async (t) => {
  const home = `${t.testdir()}/home`;
  const configured = await autoConfigure({ home, env: {}, overrides: ['http.port=0', 'transport.port=0'] });
  if (configured.kind !== 'configured') throw new Error('expected a configured home');
  const store = await FileStore.open(configured.paths.dataDir);
  const logger = await createLogger(configured.paths.logsDir, { stdout: new PassThrough() });
  // A terminal that dies as the banner is written: the process would be gone at this instant.
  const dead = Object.assign(new PassThrough(), { isTTY: true, columns: 100 });
  dead.write = ((_chunk: unknown, callback?: (error?: Error | null) => void) => (callback?.(new Error('EIO')), false)) as typeof dead.write;
  const stderr: string[] = [];
  const io = { stdout: dead, stderr: { write: (text: string) => (stderr.push(text), true) }, stdin: new PassThrough(), env: {} } as never;
  const context = { io, terminal: true, store, tls: configured.tls, paths: configured.paths, logger, bootstrap: undefined, credentialsFile: undefined };
  const plan = await prepareFirstUser(context);
  await t.rejects(showFirstUser(context, plan, 9200, async () => ({})), { message: 'EIO' });
  t.ok(store.getUser('elastic'), 'the password was stored');
  t.ok(await stat(`${configured.paths.dataDir}/elastic-password.unseen`), 'and marked unseen');
  t.same(await prepareFirstUser({ ...context, store: await FileStore.open(configured.paths.dataDir) }), { kind: 'none' });
  t.equal(stderr.join(''), warning(home), 'the next start says so, with the command');
});

t.test('end to end: a shown banner leaves no mark; an interrupted one is reported until the password is reset', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const first = await startNodeProcess(home, { terminal: true });
  t.teardown(() => first.signal('SIGKILL'));
  await first.waitFor(/HTTP CA certificate SHA-256 fingerprint:[^\n]*\r?\n {2}[0-9a-f]{64}\r?\n[\s\S]*━{100}/);
  await first.stop();
  const dataDir = homePaths(home).dataDir;
  await t.rejects(stat(`${dataDir}/elastic-password.unseen`), { code: 'ENOENT' }, 'a banner shown leaves no mark');

  // The state a kill -9 in the window leaves: the password stored, the mark still there.
  const stored = JSON.parse(await readFile(`${dataDir}/security.json`, 'utf8')) as { users: { elastic: { passwordHash: string } } };
  await markPasswordUnseen(dataDir, stored.users.elastic.passwordHash);
  const owner = await stat(dataDir);
  await chown(`${dataDir}/elastic-password.unseen`, owner.uid, owner.gid);
  const again = await startNodeProcess(home, { terminal: false });
  t.teardown(() => again.signal('SIGKILL'));
  await again.httpPort();
  t.match(again.output(), warning(home));
  t.match(again.output(), '"event":"elastic_password_unseen"');
  await again.stop();

  const reset = await runCliAsNodeUser(['reset-password', '-u', 'elastic', '-b', '-s', '--home', home]);
  t.equal(reset.exitCode, 0, 'the password is reset offline');
  const third = await startNodeProcess(home, { terminal: false });
  t.teardown(() => third.signal('SIGKILL'));
  await third.httpPort();
  t.notMatch(third.output(), 'WARNING', 'a reset password is one somebody saw: no warning');
  await t.rejects(stat(`${dataDir}/elastic-password.unseen`), { code: 'ENOENT' });
});

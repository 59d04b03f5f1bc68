import { chmod, mkdir, symlink } from 'node:fs/promises';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { Keystore } from '../../src/keystore/keystore.js';
import { gatherFileFacts, keystoreTlsPasswords, probeConfigDir } from '../../src/preflight/gather-facts.js';
import { settingsOf } from '../helpers/settings.js';

t.test('file facts: data dir emptiness ignores the lock; file kinds do not follow links', async (t) => {
  const home = t.testdir({ config: { 'real.yml': 'x: 1\n' }, data: { 'node.lock': '1\n' } });
  const paths = homePaths(home);
  await symlink(`${home}/config/real.yml`, paths.configFile);
  const facts = await gatherFileFacts(paths, settingsOf({}));
  t.equal(facts.nonEmptyDataPath, undefined, 'a data dir with only node.lock is new');
  t.same(facts.configFile, { path: paths.configFile, kind: 'other', readable: true });
  t.same(facts.keystore, { path: paths.keystoreFile, kind: 'missing', readable: false });
  await mkdir(`${paths.dataDir}/nodes`);
  t.equal((await gatherFileFacts(paths, settingsOf({}))).nonEmptyDataPath, paths.dataDir);
});

t.test('the config dir probe reports owners and leaves nothing behind', async (t) => {
  const dir = t.testdir();
  const probe = await probeConfigDir(dir);
  t.same(probe, { kind: 'created', configDir: dir, dirOwner: process.getuid!(), newOwner: process.getuid!() });
  const { readdir } = await import('node:fs/promises');
  t.same(await readdir(dir), []);
  const missing = await probeConfigDir(`${dir}/nope`);
  t.same(missing, { kind: 'failed', configDir: `${dir}/nope`, reason: 'could not create a directory in it (ENOENT)' });
});

t.test('a read-only config dir is not writable (skipped as root, who writes anywhere)', { skip: process.getuid?.() === 0 && 'root ignores directory modes' }, async (t) => {
  const dir = t.testdir();
  await chmod(dir, 0o500);
  t.teardown(() => chmod(dir, 0o700));
  t.same(await probeConfigDir(dir), { kind: 'failed', configDir: dir, reason: 'could not create a directory in it (EACCES)' });
});

t.test('TLS password settings in the keystore', async (t) => {
  const keystore = new Keystore();
  t.same(keystoreTlsPasswords(undefined), []);
  t.same(keystoreTlsPasswords(keystore), []);
  keystore.setString('security.transport.ssl.truststore.secure_password', 'x');
  keystore.setString('bootstrap.password', 'y');
  t.same(keystoreTlsPasswords(keystore), ['security.transport.ssl.truststore.secure_password']);
});

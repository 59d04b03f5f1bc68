import { readFile, stat, symlink, writeFile } from 'node:fs/promises';
import t from 'tap';
import { Keystore } from '../../src/keystore/keystore.js';

t.test('save and load round-trip string and file settings, mode 0600, atomically', async (t) => {
  const dir = t.testdir();
  const path = `${dir}/securenode.keystore`;
  const store = new Keystore();
  store.setString('bootstrap.password', 'p\u00e4ssword-1');
  store.setFile('vault.ca', Buffer.from([0, 1, 2, 255]));
  await store.save(path, 'pw');
  t.equal((await stat(path)).mode & 0o777, 0o600);
  const text = await readFile(path, 'utf8');
  t.notMatch(text, /ssword/, 'no value in clear text');
  const loaded = await Keystore.load(path, 'pw');
  t.same(loaded.list(), ['bootstrap.password', 'vault.ca']);
  t.equal(loaded.getString('bootstrap.password'), 'p\u00e4ssword-1');
  t.same(loaded.entry('vault.ca'), { type: 'file', value: Buffer.from([0, 1, 2, 255]) });
  t.equal(loaded.getString('missing'), undefined);
  t.equal(loaded.remove('vault.ca'), true);
  t.equal(loaded.remove('vault.ca'), false);
  t.equal(loaded.has('vault.ca'), false);
  await loaded.save(path, 'pw', 0o640);
  t.equal((await stat(path)).mode & 0o777, 0o640, 'an explicit mode wins, whatever the umask');
});

t.test('setting names are checked', async (t) => {
  const store = new Keystore();
  t.throws(() => store.setString('Bad Name', 'x'), { code: 'ERR_KEYSTORE_SETTING_NAME', message: "invalid setting name 'Bad Name': use lower-case letters, digits, '_', '-' and '.', e.g. bootstrap.password" });
  t.throws(() => store.setFile('', Buffer.alloc(0)), { code: 'ERR_KEYSTORE_SETTING_NAME' });
});

t.test('exists, password protection and load errors', async (t) => {
  const dir = t.testdir({ 'plain.keystore': '' });
  const open = `${dir}/open.keystore`;
  const locked = `${dir}/locked.keystore`;
  await new Keystore().save(open, '');
  await new Keystore().save(locked, 'secret');
  t.equal(await Keystore.isPasswordProtected(open), false);
  t.equal(await Keystore.isPasswordProtected(locked), true);
  t.equal(await Keystore.exists(open), true);
  t.equal(await Keystore.exists(`${dir}/none`), false);
  await symlink(`${dir}/none`, `${dir}/dangling`);
  t.equal(await Keystore.exists(`${dir}/dangling`), true, 'a dangling link is not a missing keystore');
  await t.rejects(Keystore.load(`${dir}/none`, ''), { code: 'ERR_KEYSTORE_MISSING', message: `no keystore at ${dir}/none; create one with \`npx securenode keystore create\`` });
  await t.rejects(Keystore.load(dir, ''), { code: 'ERR_IO', message: /EISDIR/ });
  await t.rejects(Keystore.isPasswordProtected(`${dir}/plain.keystore`), { code: 'ERR_KEYSTORE_CORRUPT' });
});

t.test('a well-sealed envelope whose content is not a map of entries is damaged', async (t) => {
  const { sealEnvelope } = await import('../../src/keystore/envelope.js');
  const dir = t.testdir();
  for (const content of ['not json', '{"entries":{"a":{"type":"other","value":""}}}', '{}']) {
    await writeFile(`${dir}/k`, JSON.stringify(await sealEnvelope(Buffer.from(content), '')));
    await t.rejects(Keystore.load(`${dir}/k`, ''), { code: 'ERR_KEYSTORE_CORRUPT', message: `the keystore ${dir}/k is damaged (its content is not readable); restore it from a backup` }, content);
  }
});

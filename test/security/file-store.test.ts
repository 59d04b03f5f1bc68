import { readFile, stat } from 'node:fs/promises';
import t from 'tap';
import { FileStore } from '../../src/security/file-store.js';

t.test('an empty store, a user written atomically at 0600, read back', async (t) => {
  const dir = t.testdir();
  const store = await FileStore.open(dir);
  t.equal(store.isEmpty(), true);
  t.equal(store.getUser('elastic'), undefined);
  t.equal(store.getUser('constructor'), undefined, 'no prototype keys');
  await store.putUser({ username: 'elastic', passwordHash: '$argon2id$x', roles: ['superuser'], enabled: true });
  t.equal((await stat(store.path)).mode & 0o777, 0o600);
  const again = await FileStore.open(dir);
  t.equal(again.isEmpty(), false);
  t.same(again.getUser('elastic'), { username: 'elastic', passwordHash: '$argon2id$x', roles: ['superuser'], enabled: true, id: again.getUser('elastic')!.id });
  t.match(again.getUser('elastic')!.id, /^[0-9a-f-]{36}$/, 'a stable id, for entity permissions');
  await again.putUser({ ...again.getUser('elastic')!, enabled: false });
  t.equal((await FileStore.open(dir)).getUser('elastic')!.enabled, false);
  t.equal(again.getUser('elastic')!.id, store.getUser('elastic')!.id, 'kept across writes');
  t.notMatch(await readFile(store.path, 'utf8'), /password"/, 'only a hash field, no password field');
});

import { readFile, stat, writeFile } from 'node:fs/promises';
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

t.test('a damaged store is a clear error', async (t) => {
  const dir = t.testdir({ 'security.json': '{"version":1,' });
  await t.rejects(FileStore.open(dir), { code: 'ERR_STORE_CORRUPT', message: `the security store ${dir}/security.json is damaged (not JSON); restore it from a backup` });
  await writeFile(`${dir}/security.json`, '{"version":2,"users":{}}');
  await t.rejects(FileStore.open(dir), { code: 'ERR_STORE_CORRUPT', message: `the security store ${dir}/security.json is damaged (/version must be equal to constant); restore it from a backup` });
  // Wrong shapes are refused at open, not served (P1): each names its place, never a value.
  const user = { username: 'u', passwordHash: '$argon2id$x', roles: [], enabled: true };
  const wrong: [unknown, string][] = [
    [{ version: 1, users: { u: { ...user, roles: 'superuser' } } }, '/users/u/roles must be array'],
    [{ version: 1, users: { u: { ...user, enabled: 'yes' } } }, '/users/u/enabled must be boolean'],
    [{ version: 1, users: { elastic: user } }, "the entry under 'elastic' names another"],
    [{ version: 1, users: {}, roles: { r: { id: 'x', name: 'r', endpoints: [{ endpoint: '*', actions: ['fly'], negative: false }], entities: [] } } }, '/roles/r/endpoints/0/actions/0 must be equal to one of the allowed values'],
    [{ version: 1, users: {}, apiKeys: { k: null } }, '/apiKeys/k must be object'],
  ];
  for (const [data, reason] of wrong) {
    await writeFile(`${dir}/security.json`, JSON.stringify(data));
    await t.rejects(FileStore.open(dir), { code: 'ERR_STORE_CORRUPT', message: `the security store ${dir}/security.json is damaged (${reason}); restore it from a backup` }, reason);
  }
  const notDir = t.testdir({ 'security.json': { inner: 'x' } });
  await t.rejects(FileStore.open(notDir), { code: 'ERR_IO' });
});

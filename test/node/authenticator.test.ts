import t from 'tap';
import { Authenticator, parseBasic } from '../../src/node/authenticator.js';
import { FileStore } from '../../src/security/file-store.js';
import { hashPassword, verifyPassword } from '../../src/security/password.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

t.test('parseBasic', async (t) => {
  t.same(parseBasic(basic('elastic', 'a:b c')), { username: 'elastic', password: 'a:b c' });
  t.same(parseBasic('basic ' + Buffer.from('u:').toString('base64')), { username: 'u', password: '' });
  t.equal(parseBasic(undefined), undefined);
  t.equal(parseBasic('Bearer abc'), undefined);
  t.equal(parseBasic('Basic ' + Buffer.from('nocolon').toString('base64')), undefined);
  t.equal(parseBasic('Basic ' + Buffer.from(':pw').toString('base64')), undefined);
});

t.test('a success is cached (one slow hash), a failure never is, a changed or disabled user is out at once', async (t) => {
  const store = await FileStore.open(t.testdir());
  await store.putUser({ username: 'elastic', passwordHash: await hashPassword('right-password'), roles: ['superuser'], enabled: true });
  let calls = 0;
  const counting: typeof verifyPassword = async (phc, password) => {
    calls++;
    return verifyPassword(phc, password);
  };
  const authenticator = new Authenticator(store, 60_000, counting);
  t.equal((await authenticator.authenticate(basic('elastic', 'right-password')))?.user.username, 'elastic');
  t.equal((await authenticator.authenticate(basic('elastic', 'right-password')))?.user.username, 'elastic');
  t.equal(calls, 1, 'the second request did not pay the slow hash');
  t.equal(await authenticator.authenticate(basic('elastic', 'wrong')), undefined);
  t.equal(await authenticator.authenticate(basic('elastic', 'wrong')), undefined);
  t.equal(calls, 3, 'failures are checked every time');
  t.equal(await authenticator.authenticate(basic('nobody', 'right-password')), undefined);
  t.equal(calls, 4, 'an unknown user costs a hash too (a dummy one), so that timing names no user');

  await store.putUser({ ...store.getUser('elastic')!, passwordHash: await hashPassword('new-password') });
  t.equal(await authenticator.authenticate(basic('elastic', 'right-password')), undefined, 'the old password is refused at once, cache or not');
  t.equal((await authenticator.authenticate(basic('elastic', 'new-password')))?.user.username, 'elastic');
  await store.putUser({ ...store.getUser('elastic')!, enabled: false });
  t.equal(await authenticator.authenticate(basic('elastic', 'new-password')), undefined, 'a disabled user is out, cached credentials included');
});

t.test('cached entries expire', async (t) => {
  const store = await FileStore.open(t.testdir());
  await store.putUser({ username: 'u', passwordHash: await hashPassword('pw-123456789'), roles: [], enabled: true });
  let calls = 0;
  const authenticator = new Authenticator(store, 0, async (phc, pw) => (calls++, verifyPassword(phc, pw)));
  await authenticator.authenticate(basic('u', 'pw-123456789'));
  await authenticator.authenticate(basic('u', 'pw-123456789'));
  t.equal(calls, 2, 'a zero TTL caches nothing');
});

t.test('full, the cache evicts the least recently used login, one at a time, never all at once; its bytes are bounded', async (t) => {
  const store = await FileStore.open(t.testdir());
  const hash = await hashPassword('pw-123456789');
  const names = Array.from({ length: 12 }, (_, index) => `user${String(index).padStart(2, '0')}`);
  for (const username of names) await store.putUser({ username, passwordHash: hash, roles: [], enabled: true });
  let calls = 0;
  // A stand-in verify: the point is which logins the cache keeps, not the hash.
  const verify: typeof verifyPassword = async (phc, password) => (calls++, phc === hash && password === 'pw-123456789');
  const one = 2 * (44 + 'user00'.length + hash.length) + 96;
  const authenticator = new Authenticator(store, 60_000, verify, one * 10);
  for (const username of names.slice(0, 10)) await authenticator.authenticate(basic(username, 'pw-123456789'));
  t.same(authenticator.cacheSize, { entries: 10, bytes: one * 10 }, 'ten fit');
  t.ok(authenticator.authenticateCached(basic('user00', 'pw-123456789')), 'user00 is used again: now the most recent');
  await authenticator.authenticate(basic('user10', 'pw-123456789'));
  t.same(authenticator.cacheSize, { entries: 10, bytes: one * 10 }, 'an eleventh made room for itself, and only for itself');
  t.ok(authenticator.authenticateCached(basic('user00', 'pw-123456789')), 'the recently used login stays');
  t.notOk(authenticator.authenticateCached(basic('user01', 'pw-123456789')), 'the least recently used one went');
  for (const username of names.slice(2, 10)) t.ok(authenticator.authenticateCached(basic(username, 'pw-123456789')), `${username} stays`);
  calls = 0;
  for (let round = 0; round < 3; round++) for (const username of names.slice(2, 10)) await authenticator.authenticate(basic(username, 'pw-123456789'));
  t.equal(calls, 0, 'past the size, the logins in use pay no hash again');
});

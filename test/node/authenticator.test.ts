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

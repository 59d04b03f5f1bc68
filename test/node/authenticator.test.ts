import { Agent, request as httpsRequest } from 'node:https';
import fc from 'fast-check';
import t from 'tap';
import { Authenticator, parseBasic } from '../../src/node/authenticator.js';
import { FileStore } from '../../src/security/file-store.js';
import { hashPassword, verifyPassword } from '../../src/security/password.js';
import { inProcessNode } from '../helpers/in-process-node.js';

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

t.test('attacker: the per-connection memo never outlives a change: any sequence of requests and changes answers as the full check does', async (t) => {
  const store = await FileStore.open(t.testdir());
  const hashes = { a: await hashPassword('password-a-1'), b: await hashPassword('password-b-1') };
  await store.putUser({ username: 'alice', passwordHash: hashes.a, roles: ['superuser'], enabled: true });
  await store.putUser({ username: 'bob', passwordHash: hashes.b, roles: ['read-only'], enabled: true });
  const authenticator = new Authenticator(store, 60_000, verifyPassword);
  const headers = [basic('alice', 'password-a-1'), basic('bob', 'password-b-1'), basic('alice', 'password-b-1')];
  for (const header of headers) await authenticator.authenticate(header);
  const connections = [{}, {}];
  const step = fc.oneof(
    fc.record({ kind: fc.constant('request' as const), connection: fc.integer({ min: 0, max: 1 }), header: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('disable' as const), enabled: fc.boolean(), user: fc.constantFrom('alice', 'bob') }),
    fc.record({ kind: fc.constant('password' as const), user: fc.constantFrom('alice', 'bob'), to: fc.constantFrom('a', 'b') }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
      for (const action of steps) {
        if (action.kind === 'request') {
          const header = headers[action.header]!;
          const memoed = authenticator.authenticateCached(header, connections[action.connection]);
          const full = authenticator.authenticateCached(header);
          if ((memoed?.user.username ?? null) !== (full?.user.username ?? null) || memoed?.user.passwordHash !== full?.user.passwordHash) return false;
        } else if (action.kind === 'disable') {
          await store.putUser({ ...store.getUser(action.user)!, enabled: action.enabled });
        } else {
          await store.putUser({ ...store.getUser(action.user)!, passwordHash: hashes[action.to] });
        }
      }
      return true;
    }),
    { numRuns: 100 },
  );
  t.pass('100 generated sequences: the memo answered as the full check every time');
});

t.test('a password changed between two requests on one keep-alive connection: the second is refused', async (t) => {
  const { call, admin, running, configured } = await inProcessNode(t, 'on');
  await call('PUT', '/_security/user/kay', admin, { password: 'kay-password-1', roles: ['read-only'] });
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: configured.tls.httpCaPem });
  t.teardown(() => agent.destroy());
  const sockets = new Set<unknown>();
  const get = () =>
    new Promise<number>((resolve, reject) => {
      const request = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port: running.http.port, path: '/', agent, headers: { authorization: basic('kay', 'kay-password-1') } }, (response) => {
        sockets.add(response.socket);
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('error', reject);
      request.end();
    });
  t.same([await get(), await get(), await get()], [200, 200, 200], 'the first checks the password, the next are remembered on the connection');
  await call('PUT', '/_security/user/kay/_password', admin, { password: 'kay-password-2' });
  t.equal(await get(), 401, 'the old password, on the same connection, right after the change');
  t.equal(sockets.size, 1, 'every request went over one connection');
});

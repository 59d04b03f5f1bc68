// Attack: outlive your owner. A key belongs to its owner's id: it dies with
// the user, is refused while the user is disabled, never passes to a later
// user of the same name, keeps the roles it was made with, and is limited by
// what its owner holds at each use (Elasticsearch's limited-by).
import t from 'tap';
import { inProcessNode } from '../helpers/in-process-node.js';

t.test("a deleted, disabled or re-created user's keys, and a demoted owner's", async (t) => {
  const { call, admin, store } = await inProcessNode(t, 'on');
  const as = (encoded: string) => ({ authorization: `ApiKey ${encoded}` });
  const whoami = async (encoded: string) => call('GET', '/_security/_authenticate', undefined, undefined, '127.0.0.1', as(encoded));
  await call('PUT', '/_security/user/owner', admin, { password: 'owner-password-1', roles: ['admin'] });
  const key = (await call('POST', '/_security/api_key', 'owner:owner-password-1', { name: 'k' })).body as { id: string; encoded: string };
  t.match(store.getApiKey(key.id), { creator: 'owner', ownerId: store.getUser('owner')!.id, roles: ['admin'] }, "the key records its owner's id and roles");
  t.equal((await whoami(key.encoded)).status, 200);

  await call('PUT', '/_security/user/owner/_disable', admin);
  t.equal((await whoami(key.encoded)).status, 401, 'refused while its owner is disabled');
  await call('PUT', '/_security/user/owner/_enable', admin);
  t.equal((await whoami(key.encoded)).status, 200, 'and back when enabled');
  t.equal((await call('POST', '/_security/api_key', undefined, { name: 'sub' }, '127.0.0.1', as(key.encoded))).status, 200, 'as admin, the key makes keys');

  // Demoted: the key may do only what the owner may now, though it was made as admin.
  await call('PUT', '/_security/user/owner', admin, { roles: ['read-only'] });
  t.equal((await call('POST', '/_security/api_key', undefined, { name: 'sub2' }, '127.0.0.1', as(key.encoded))).status, 403, 'limited by the demoted owner');
  t.equal((await call('GET', '/_cluster/health', undefined, undefined, '127.0.0.1', as(key.encoded))).status, 200, 'what both allow still works');
  // Promoted: the key keeps the roles it was made with.
  await call('PUT', '/_security/user/owner', admin, { roles: ['superuser'] });
  t.equal((await call('GET', '/_security/user', undefined, undefined, '127.0.0.1', as(key.encoded))).status, 403, 'a promotion does not reach a key made before it');

  t.same((await call('DELETE', '/_security/user/owner', admin)).body, { found: true });
  t.equal((await whoami(key.encoded)).status, 401, 'dead with its owner');
  t.equal(store.getApiKey(key.id)!.invalidated, true, 'and listed as invalidated');
  await call('PUT', '/_security/user/owner', admin, { password: 'owner-password-2', roles: ['superuser'] });
  t.equal((await whoami(key.encoded)).status, 401, 'a new user of the same name does not inherit it');
});

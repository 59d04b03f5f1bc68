// Attack: make yourself (or a friend) more than you are. In every enforce
// mode, a read-only user, an API key and a service token try every write of
// the security API; and callers with random roles try to hand out random
// roles: whatever is accepted grants nothing the caller does not hold.
import fc from 'fast-check';
import t from 'tap';
import { encodeServiceToken, hashSecret } from '../../src/security/api-keys.js';
import { authorizeEndpoint, authorizeEntity, type Action } from '../../src/security/rbac-matcher.js';
import { inProcessNode, superPassword } from '../helpers/in-process-node.js';

const hashKey = Buffer.alloc(32, 7);

for (const mode of ['on', 'entity', 'both', 'off']) {
  t.test(`enforce ${mode}: a read-only user, its API key and a service token change nothing in the security API`, async (t) => {
    const { call, admin, store } = await inProcessNode(t, mode, { overrides: ['security.enrollment.enabled=true'] });
    await call('PUT', '/_security/user/reader', admin, { password: 'reader-password', roles: ['read-only'] });
    await call('PUT', '/_security/user/victim', admin, { password: 'victim-password', roles: [] });
    await call('PUT', '/_security/role/custom', admin, {});
    const key = (await call('POST', '/_security/api_key', 'reader:reader-password', { name: 'readers-key' })).body as { encoded?: string };
    t.notOk(key.encoded, 'a read-only user makes no API key');
    const adminKey = (await call('POST', '/_security/api_key', admin, { name: 'victim-key' })).body as { id: string };
    // A key the reader had before this rule: made by the store directly, as an old node did.
    await store.putApiKeys([{ id: 'reader-key', name: 'old', secretHash: hashSecret(hashKey, 'reader-secret'), creator: 'reader', ownerId: store.getUser('reader')!.id!, roles: ['read-only'], scope: 'all', created: Date.now(), invalidated: false }]);
    await store.putServiceToken({ name: 'client-1', secretHash: hashSecret(hashKey, 'token-secret'), created: Date.now() });
    const callers: [string, Record<string, string>][] = [
      ['a read-only user', { authorization: `Basic ${Buffer.from('reader:reader-password').toString('base64')}` }],
      ['its API key', { authorization: `ApiKey ${Buffer.from('reader-key:reader-secret').toString('base64')}` }],
      ['a service token', { authorization: `Bearer ${encodeServiceToken('client-1', 'token-secret')}` }],
    ];
    const writes: [string, string, unknown?][] = [
      ['PUT', '/_security/user/mallory', { password: 'mallory-password', roles: ['superuser'] }],
      ['PUT', '/_security/user/reader', { roles: ['superuser'] }],
      ['POST', '/_security/user/elastic/_password', { password: 'taken-over-password' }],
      ['POST', '/_security/user/victim/_password', { password: 'taken-over-password' }],
      ['PUT', '/_security/user/victim/_disable'],
      ['PUT', '/_security/user/victim/_enable'],
      ['DELETE', '/_security/user/victim'],
      ['PUT', '/_security/role/read-only-plus', { endpoints: [{ endpoint: '*', actions: ['*'] }] }],
      ['PUT', '/_security/role/custom', { endpoints: [{ endpoint: '*', actions: ['*'] }] }],
      ['DELETE', '/_security/role/custom'],
      ['POST', '/_security/api_key', { name: 'mine' }],
      ['POST', '/_security/api_key', { name: 'enroll', role_descriptors: { a: { cluster: ['enroll_node'] } } }],
      ['DELETE', '/_security/api_key', { ids: [adminKey.id] }],
      ['GET', '/_security/enroll/node'],
      ['GET', '/_security/enroll/client'],
    ];
    const before = JSON.stringify(store.snapshot());
    for (const [who, headers] of callers) {
      t.equal((await call('GET', '/_security/_authenticate', undefined, undefined, '127.0.0.1', headers)).status, 200, `${who} authenticates`);
      for (const [method, path, body] of writes) {
        const answer = await call(method, path, undefined, body, '127.0.0.1', headers);
        t.equal(answer.status, 403, `${who}: ${method} ${path}`);
      }
    }
    t.equal(JSON.stringify(store.snapshot()), before, 'nothing in the store changed');
    t.equal((await call('GET', '/_security/_authenticate', admin)).status, 200, "elastic's password is still its own");
  });
}

const endpoints = ['*', '/', '/_cluster/health', '/_nodes/_local', '/_security/user', '/_security/user/*', '/_security/user/elastic', '/_security/user/*/_password', '/_security/user/*/*', '/_security/role/*', '/_security/api_key'];
const actionsArb = fc.oneof(fc.constant(['*'] as (Action | '*')[]), fc.subarray(['read', 'create', 'update', 'delete'] as (Action | '*')[], { minLength: 1 }));
const rowsArb = fc.array(fc.record({ endpoint: fc.constantFrom(...endpoints), actions: actionsArb, negative: fc.boolean() }), { maxLength: 5 });
const entitiesArb = fc.array(fc.record({ entity_id: fc.constantFrom('*', 'some-id'), entity_type: fc.constant('user'), actions: actionsArb, negative: fc.boolean() }), { maxLength: 3 });

/** Requests an independent oracle samples: every route of the node, with parameter values named by rows and not. */
const samples: [string, string, string][] = [];
for (const name of ['elastic', 'newbie', 'zzz']) {
  samples.push(['GET', `/_security/user/${name}`, '/_security/user/:name'], ['PUT', `/_security/user/${name}`, '/_security/user/:name'], ['DELETE', `/_security/user/${name}`, '/_security/user/:name']);
  samples.push(['POST', `/_security/user/${name}/_password`, '/_security/user/:name/_password'], ['PUT', `/_security/user/${name}/_enable`, '/_security/user/:name/_enable']);
  samples.push(['GET', `/_security/role/${name}`, '/_security/role/:name'], ['PUT', `/_security/role/${name}`, '/_security/role/:name']);
}
for (const path of ['/', '/_cluster/health', '/_nodes/_local', '/_security/user', '/_security/api_key', '/_security/role']) for (const method of ['GET', 'POST', 'PUT', 'DELETE']) samples.push([method, path, path]);

t.test('whatever a caller with random roles may grant, it holds itself (fast-check, checked by the matcher on sampled requests)', async (t) => {
  const { call, admin } = await inProcessNode(t, 'both');
  let run = 0;
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(rowsArb, entitiesArb, rowsArb, entitiesArb, async (callerRows, callerEntities, targetRows, targetEntities) => {
      run++;
      // The caller may manage users; the rest of its role is random, negatives included.
      const caller = { endpoints: [{ endpoint: '/_security/user/*', actions: ['update'], negative: false }, ...callerRows], entities: [{ entity_id: '*', entity_type: 'wildcard', actions: ['update'], negative: false }, ...callerEntities] };
      const target = { endpoints: targetRows, entities: targetEntities };
      await call('PUT', `/_security/role/caller${run}`, admin, caller);
      await call('PUT', `/_security/role/target${run}`, admin, target);
      await call('PUT', `/_security/user/caller${run}`, admin, { password: 'caller-password', roles: [`caller${run}`] });
      const answer = await call('PUT', `/_security/user/newbie${run}`, `caller${run}:caller-password`, { password: 'newbie-password', roles: [`target${run}`] });
      if (answer.status !== 200) return answer.status === 403;
      accepted++;
      for (const [method, path, pattern] of samples) {
        if (authorizeEndpoint(target.endpoints, method, path, pattern).allowed && !authorizeEndpoint(caller.endpoints as typeof target.endpoints, method, path, pattern).allowed) return false;
      }
      for (const id of ['some-id', 'other-id', '*']) {
        for (const action of ['read', 'create', 'update', 'delete'] as Action[]) {
          if (authorizeEntity(target.entities as never, id, action) && !authorizeEntity(caller.entities as never, id, action)) return false;
        }
      }
      return true;
    }),
    { numRuns: 40 },
  );
  t.ok(accepted > 0, `some grants were within the caller and accepted (${accepted} of ${run})`);

  // A grant within the caller is accepted; one beyond it is refused with the reason.
  await call('PUT', '/_security/role/manager', admin, { endpoints: [{ endpoint: '*', actions: ['read'] }, { endpoint: '/_security/user/*', actions: ['*'] }, { endpoint: '/_security/user/*/_password', actions: ['*'] }], entities: [{ entity_id: '*', entity_type: 'wildcard', actions: ['*'] }] });
  await call('PUT', '/_security/user/manager', admin, { password: 'manager-password', roles: ['manager'] });
  t.equal((await call('PUT', '/_security/user/viewer', 'manager:manager-password', { password: 'viewer-password', roles: ['read-only'] })).status, 200, 'read-only is within the manager');
  t.same((await call('PUT', '/_security/user/boss', 'manager:manager-password', { password: 'boss-password-1', roles: ['superuser'] })).body, {
    error: 'manager, you cannot give user [boss] permissions you do not hold yourself: PUT /_security/user/{name}/_enable',
  });
  t.same((await call('POST', '/_security/user/elastic/_password', 'manager:manager-password', { password: 'taken-over-password' })).body, {
    error: 'manager, you cannot manage user [elastic]: it holds permissions you do not hold yourself: PUT /_security/user/{name}/_enable',
  });
  t.equal((await call('GET', '/_security/_authenticate', `elastic:${superPassword}`)).status, 200);
});

t.test('a cascading role delete checks every user it changes: taking away a negative is a grant', async (t) => {
  const { call, admin } = await inProcessNode(t, 'on');
  await call('PUT', '/_security/role/no-health', admin, { endpoints: [{ endpoint: '/_cluster/health', actions: ['*'], negative: true }] });
  await call('PUT', '/_security/role/roles-manager', admin, { endpoints: [{ endpoint: '/_security/role/*', actions: ['*'] }, { endpoint: '/_cluster/health', actions: ['*'], negative: true }] });
  await call('PUT', '/_security/user/held', admin, { password: 'held-password-1', roles: ['read-only', 'no-health'] });
  await call('PUT', '/_security/user/rm', admin, { password: 'rm-password-123', roles: ['roles-manager'] });
  const refused = await call('DELETE', '/_security/role/no-health?force', 'rm:rm-password-123');
  t.same(refused.body, { error: 'rm, you cannot give user [held] permissions you do not hold yourself: GET /_cluster/health' });
  t.equal((await call('GET', '/_cluster/health', 'held:held-password-1')).status, 403, 'the negative still holds');
  t.equal((await call('DELETE', '/_security/role/no-health?force', admin)).status, 200, 'a superuser may');
});

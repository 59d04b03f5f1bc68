// Attack: many writers at once. Every acknowledged change must survive, in
// every store kind: the file store (one queue per process, checked again after
// reopening the file), the PostgreSQL store (two nodes' stores on one
// database, one transaction per change ordered by the generation row), and
// through the REST API of a real node, for every kind of change.
import fc from 'fast-check';
import t from 'tap';
import { FileStore } from '../../src/security/file-store.js';
import { PostgresStore } from '../../src/security/postgres-store.js';
import type { SecurityStore, StoredUser } from '../../src/security/store.js';
import { inProcessNode } from '../helpers/in-process-node.js';
import { postgresSkip, testDatabase } from '../helpers/postgres.js';

const user = (username: string): StoredUser => ({ username, passwordHash: '$argon2id$fake', roles: [], enabled: true });

/** A read-modify-write that loses updates unless changes are serialized: append one role name to a user's roles. */
const appendRole = (store: SecurityStore, username: string, role: string) =>
  store.mutate((data) => ({ ops: [{ op: 'putUser', user: { ...data.users[username]!, roles: [...data.users[username]!.roles, role] } }], result: undefined }));

t.test('the file store: parallel read-modify-writes and creations all land, in memory and on disk', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 20 }), async (appends, creations) => {
      const dir = t.testdir({});
      const store = await FileStore.open(dir);
      await store.putUser(user('counter'));
      await Promise.all([
        ...Array.from({ length: appends }, (_, index) => appendRole(store, 'counter', `r${index}`)),
        ...Array.from({ length: creations }, (_, index) => store.putUser(user(`u${index}`))),
      ]);
      const reopened = await FileStore.open(dir);
      for (const view of [store, reopened]) {
        if (view.getUser('counter')!.roles.length !== appends) return false;
        if (view.listUsers().length !== creations + 1) return false;
      }
      return true;
    }),
    { numRuns: 15 },
  );
});

t.test('the file store: a mutation that throws commits nothing and does not block the next', async (t) => {
  const store = await FileStore.open(t.testdir({}));
  await t.rejects(store.mutate(() => { throw new Error('refused'); }), { message: 'refused' });
  await store.putUser(user('after'));
  t.ok(store.getUser('after'));
});

t.test('the PostgreSQL store: two nodes writing at once lose nothing', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const clusterUuid = '5d1a2f5e-0000-4000-8000-000000000001';
  const open = () => PostgresStore.open(connection, { clusterUuid, claim: true });
  const [one, two] = [await open(), await open()];
  t.teardown(() => Promise.all([one.close(), two.close()]));
  await one.putUser(user('counter'));
  await fc.assert(
    fc.asyncProperty(fc.array(fc.boolean(), { minLength: 2, maxLength: 30 }), async (writers) => {
      const before = one.getUser('counter')?.roles.length ?? 0;
      await two.reload();
      await Promise.all(writers.map((first, index) => appendRole(first ? one : two, 'counter', `r${before + index}`)));
      const fresh = await open();
      const roles = fresh.getUser('counter')!.roles;
      await fresh.close();
      return roles.length === before + writers.length && new Set(roles).size === roles.length;
    }),
    { numRuns: 6 },
  );
  await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 ? one : two).putUser(user(`u${index}`))));
  await Promise.all([one.reload(), two.reload()]);
  t.equal(one.listUsers().length, 21, 'every creation from either node is in the database');
  t.equal(two.listUsers().length, 21);
});

t.test('the REST API: every kind of change, many at once, and each acknowledged one is there', async (t) => {
  const { call, admin, store } = await inProcessNode(t, 'on');
  const created = await Promise.all(Array.from({ length: 20 }, (_, index) => call('PUT', `/_security/user/race${index}`, admin, { password: `race-password-${index}`, roles: [] })));
  t.same(created.map((answer) => answer.body), Array(20).fill({ created: true }));
  t.equal(store.listUsers().filter((entry) => entry.username.startsWith('race')).length, 20, '20 acknowledged creations, 20 users');

  // The same users changed by two writers at once: a password change and a roles change both survive.
  await Promise.all(
    Array.from({ length: 10 }, (_, index) => [
      call('POST', `/_security/user/race${index}/_password`, admin, { password: `new-password-${index}` }),
      call('PUT', `/_security/user/race${index}`, admin, { roles: ['read-only'], full_name: `Racer ${index}` }),
      call('PUT', `/_security/user/race${index + 10}/_disable`, admin),
      call('DELETE', `/_security/user/race${index + 10}`, admin),
    ]).flat(),
  );
  for (let index = 0; index < 10; index++) {
    const racer = store.getUser(`race${index}`)!;
    t.same([racer.roles, racer.fullName], [['read-only'], `Racer ${index}`], `race${index}: the roles change survived`);
    t.equal((await call('GET', '/_security/_authenticate', `race${index}:new-password-${index}`)).status, 200, `race${index}: the password change survived`);
    t.notOk(store.getUser(`race${index + 10}`), `race${index + 10}: deleted`);
  }

  const roles = await Promise.all(Array.from({ length: 15 }, (_, index) => call('PUT', `/_security/role/role${index}`, admin, { endpoints: [{ endpoint: `/r${index}`, actions: ['read'] }] })));
  t.same(roles.map((answer) => answer.status), Array(15).fill(200));
  t.equal(store.listRoles().length, 15, 'every role created at once is there');
  await Promise.all(Array.from({ length: 15 }, (_, index) => call('DELETE', `/_security/role/role${index}`, admin)));
  t.equal(store.listRoles().length, 0, 'every role deleted at once is gone');

  // Invalidations that run while other changes run leave every key refused.
  const keys = await Promise.all(Array.from({ length: 10 }, (_, index) => call('POST', '/_security/api_key', admin, { name: `key${index}` })));
  const encoded = keys.map((answer) => (answer.body as { id: string; encoded: string }));
  const invalidated = await Promise.all([
    ...encoded.map((key) => call('DELETE', '/_security/api_key', admin, { ids: [key.id] })),
    ...Array.from({ length: 10 }, (_, index) => call('PUT', `/_security/user/bystander${index}`, admin, { password: `bystander-pass-${index}`, roles: [] })),
  ]);
  t.same(invalidated.slice(0, 10).map((answer) => (answer.body as { invalidated_api_keys: string[] }).invalidated_api_keys), encoded.map((key) => [key.id]));
  for (const key of encoded) {
    t.equal((await call('GET', '/', undefined, undefined, '127.0.0.1', { authorization: `ApiKey ${key.encoded}` })).status, 401, `key ${key.id} invalidated`);
  }
  t.equal(store.listUsers().filter((entry) => entry.username.startsWith('bystander')).length, 10);
});

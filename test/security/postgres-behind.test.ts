import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { PostgresStore } from '../../src/security/postgres-store.js';
import { storeRecords } from '../../src/security/store-ops.js';
import type { StoreData, StoredUser } from '../../src/security/store.js';
import { postgresSkip, testDatabase } from '../helpers/postgres.js';

// A PostgreSQL node behind another (it has not yet read a change the other
// made) works its change out from its own store; under the generation's lock it
// reads only which entries the missed changes wrote. Its change stands when
// none is one it read or writes, and what it missed is read after the commit;
// otherwise it reads what it missed under the lock and works the change out
// again, as every change did before.

const user = (username: string, passwordHash = 'hash-1'): StoredUser => ({ username, id: randomUUID(), passwordHash, roles: [], enabled: true, metadata: { n: 0 } });

/** A store's records, each there (empty when it has none), as a node that reads the whole database has them. */
const records = (data: StoreData) => Object.fromEntries(storeRecords.map((record) => [record, { ...(data[record] ?? {}) }]));

/** A node that hears nothing: its reloads (notifications, the poll) do nothing until `hear` is called. */
function deaf(store: PostgresStore): { hear(): void } {
  const reload = store.reload.bind(store);
  store.reload = () => Promise.resolve();
  return { hear: () => void (store.reload = reload) };
}

/** Two nodes of one cluster on a new database. */
async function twoNodes(t: Test) {
  const connection = await testDatabase(t);
  const clusterUuid = randomUUID();
  const open = () => PostgresStore.open(connection, { clusterUuid, claim: true });
  const [node, other] = [await open(), await open()];
  t.teardown(() => Promise.all([node.close(), other.close()]));
  return { node, other, open };
}

t.test('a node behind another: its change stands over missed changes to other entries, and is worked out again over one to an entry it read', { skip: postgresSkip }, async (t) => {
  const { node, other, open } = await twoNodes(t);
  await node.putUser(user('ada'));
  await other.reload();
  const deafNode = deaf(node);

  // Missed: a change to another user. The mutation reads ada only: worked out once, before the missed change was read.
  await other.putUser(user('bea'));
  const hadBea: boolean[] = [];
  await node.mutate((data) => {
    hadBea.push(node.getUser('bea') !== undefined);
    return { ops: [{ op: 'putUser', user: { ...data.users['ada']!, metadata: { n: 1 } } }], result: undefined };
  });
  t.same(hadBea, [false], 'worked out once, from the store without the missed change');
  t.ok(node.getUser('bea'), 'the missed change, read after the commit');
  t.same(node.getUser('ada')!.metadata, { n: 1 });

  // Missed: a change to ada herself. Worked out again, from the latest store: nothing of the other's change is lost.
  await other.putUser({ ...user('ada'), passwordHash: 'from-the-other' });
  const seen: string[] = [];
  await node.mutate((data) => {
    const ada = data.users['ada']!;
    seen.push(ada.passwordHash);
    return { ops: [{ op: 'putUser', user: { ...ada, metadata: { n: 2 } } }], result: undefined };
  });
  t.same(seen, ['hash-1', 'from-the-other'], 'worked out twice: from its own store, then from the latest');
  t.equal(node.getUser('ada')!.passwordHash, 'from-the-other');

  // Missed: a role, which a mutation may check through the authorizer rather than the store: worked out again.
  await other.putRole({ name: 'ops', id: randomUUID(), endpoints: [], entities: [] });
  let runs = 0;
  await node.mutate((data) => (runs++, { ops: [{ op: 'putUser', user: { ...data.users['ada']!, metadata: { n: 3 } } }], result: undefined }));
  t.equal(runs, 2, 'a role changed meanwhile: worked out again');

  // A refusal worked out from a store that is behind is decided again under the lock, from the latest store.
  await other.putUser(user('cy'));
  const refusedFirst: boolean[] = [];
  await node.mutate((data) => {
    const known = Object.hasOwn(data.users, 'cy');
    refusedFirst.push(known);
    if (!known) throw new Error('no such user');
    return { ops: [{ op: 'putUser', user: { ...data.users['cy']!, metadata: { n: 9 } } }], result: undefined };
  });
  t.same(refusedFirst, [false, true], "refused from the node's own store, then done from the latest");

  deafNode.hear();
  const fresh = await open();
  t.teardown(() => fresh.close());
  await node.reload();
  t.ok(isDeepStrictEqual(records(node.snapshot()), records(fresh.snapshot())), 'the node ends as the database is');
});

t.test('a one-time key used on one node and replayed on a node that has not heard of the first use is refused there', { skip: postgresSkip }, async (t) => {
  const { node, other } = await twoNodes(t);
  await other.putApiKeys([{ id: 'once', name: 'once', secretHash: 'h', creator: 'elastic', scope: 'enroll_node', created: 1, invalidated: false }]);
  await node.reload();
  const deafNode = deaf(node);
  const useOnce = (store: PostgresStore) =>
    store.mutate((data) => {
      const stored = data.apiKeys?.['once'];
      if (!stored || stored.invalidated) throw new Error('Invalid credentials');
      return { ops: [{ op: 'putApiKeys' as const, keys: [{ ...stored, invalidated: true }] }], result: 'enrolled' };
    });
  t.equal(await useOnce(other), 'enrolled', 'the first use');
  t.equal(node.getApiKey('once')!.invalidated, false, '(this node has not heard of it)');
  // Worked out from its own store the key looks unused; under the lock the log says the key was written since.
  await t.rejects(useOnce(node), { message: 'Invalid credentials' }, 'the replay on the node behind is refused');
  deafNode.hear();
});

t.test('two nodes, one of them behind at random: increments of a shared user and changes to users apart all land, once', { skip: postgresSkip }, async (t) => {
  const { node, other, open } = await twoNodes(t);
  await node.putUser(user('counter'));
  await other.reload();
  let round = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.record({ onOther: fc.boolean(), shared: fc.boolean() }), { minLength: 1, maxLength: 16 }), fc.boolean(), async (changes, nodeDeaf) => {
      round++;
      await Promise.all([node.reload(), other.reload()]);
      const before = (node.getUser('counter')!.metadata as { n: number }).n;
      const deafNode = nodeDeaf ? deaf(node) : undefined;
      await Promise.all(
        changes.map(({ onOther, shared }, index) =>
          (onOther ? other : node).mutate((data) => {
            if (!shared) return { ops: [{ op: 'putUser', user: user(`apart-${round}-${index}`) }], result: undefined };
            const counter = data.users['counter']!;
            return { ops: [{ op: 'putUser', user: { ...counter, metadata: { n: (counter.metadata as { n: number }).n + 1 } } }], result: undefined };
          }),
        ),
      );
      deafNode?.hear();
      const fresh = await open();
      try {
        await Promise.all([node.reload(), other.reload()]);
        if ((fresh.getUser('counter')!.metadata as { n: number }).n !== before + changes.filter((change) => change.shared).length) return false;
        if (!changes.every((change, index) => change.shared || fresh.getUser(`apart-${round}-${index}`))) return false;
        return isDeepStrictEqual(records(node.snapshot()), records(fresh.snapshot())) && isDeepStrictEqual(records(other.snapshot()), records(fresh.snapshot()));
      } finally {
        await fresh.close();
      }
    }),
    { numRuns: 15 },
  );
  t.pass('15 generated rounds: every increment once, every user apart, both nodes as the database');
});

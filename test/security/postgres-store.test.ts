import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import pg from 'pg';
import { readStore } from '../../src/security/postgres-rows.js';
import { PostgresStore } from '../../src/security/postgres-store.js';
import { applyStoreOp, type StoreData, type StoreOp } from '../../src/security/store.js';
import { storeOp } from '../helpers/store-op-arbitrary.js';
import { commitUnheard, cuttableProxy, ownedDatabase, postgresServer, postgresSkip, query, testDatabase } from '../helpers/postgres.js';

/** Poll `check` every 20 ms until it holds or `ms` pass; the time it took, or undefined. */
async function within(ms: number, check: () => boolean): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check() ? performance.now() - started : undefined;
}

/** A database for the test, a proxy in front of it that the test can cut, and a store of a new cluster opened through the proxy. */
async function storeBehindProxy(t: Test) {
  const connection = await testDatabase(t);
  const proxy = await cuttableProxy(t);
  const store = await PostgresStore.open({ ...connection, port: proxy.port }, { clusterUuid: randomUUID(), claim: true });
  t.teardown(() => store.close());
  return { connection, proxy, store };
}

const user = (username: string, hash = '$argon2id$v=19$m=19456,t=2,p=1$x$y') => ({ username, id: randomUUID(), passwordHash: hash, roles: ['superuser'], enabled: true });
/** The five maps always there, as a database has them. */
const full = (data: StoreData): StoreData => ({ version: 1, users: data.users, roles: data.roles ?? {}, apiKeys: data.apiKeys ?? {}, serviceTokens: data.serviceTokens ?? {}, sessions: data.sessions ?? {} });

t.test('the first node claims the database for its cluster; a node of another cluster, or a tool before any node, is refused', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const where = `database '${connection.database}' at ${connection.host}:${connection.port} (user '${connection.user}')`;
  const cluster = randomUUID();
  await t.rejects(PostgresStore.open(connection, { clusterUuid: cluster, claim: false }), { code: 'ERR_STORE_CONFIG', message: `no node has started with the ${where} yet; start a node first` });
  const first = await PostgresStore.open(connection, { clusterUuid: cluster, claim: true });
  t.teardown(() => first.close());
  t.equal(first.isEmpty(), true);
  t.equal(first.tokenHashKey.length, 32, 'the cluster key that hashes API key secrets, made once');
  const again = await PostgresStore.open(connection, { clusterUuid: cluster, claim: true });
  t.teardown(() => again.close());
  t.same(again.tokenHashKey, first.tokenHashKey, 'every node of the cluster gets the same key');
  const other = randomUUID();
  await t.rejects(PostgresStore.open(connection, { clusterUuid: other, claim: true }), {
    code: 'ERR_STORE_CONFIG',
    message: `the ${where} holds the security store of another cluster (uuid ${cluster}), not of this node's (uuid ${other}); give each cluster its own database, or add a node to that cluster by starting a new home with a node enrollment token from it`,
  });
});

t.test('every change means what it means in the embedded store (applyStoreOp), row by row', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const cluster = randomUUID();
  const store = await PostgresStore.open(connection, { clusterUuid: cluster, claim: true });
  t.teardown(() => store.close());
  // Another node, reading only what each batch changed (the change log), must end where the writer did.
  const reader = await PostgresStore.open(connection, { clusterUuid: cluster, claim: false });
  t.teardown(() => reader.close());
  await fc.assert(
    fc.asyncProperty(fc.array(storeOp, { maxLength: 6 }), async (changes) => {
      // A copy: the store changes its own in place.
      let expected = structuredClone(store.snapshot());
      for (const change of changes) {
        await store.apply(change);
        expected = applyStoreOp(expected, change);
      }
      await reader.reload();
      // Returned, so that fast-check sees a failure and shrinks it to the shortest sequence.
      return t.same(full(store.snapshot()), full(expected)) && t.same(full(reader.snapshot()), full(expected), 'and the reader, from the changes alone');
    }),
    { numRuns: 40 },
  );
  // A node that starts reads the whole store at once: the same entries, own ones, the records' prototype untouched.
  const fresh = await PostgresStore.open(connection, { clusterUuid: cluster, claim: false });
  t.teardown(() => fresh.close());
  t.same(full(fresh.snapshot()), full(store.snapshot()), 'a whole read gives the same store');
  t.same(Object.keys(fresh.snapshot().users).sort(), Object.keys(store.snapshot().users).sort(), 'the same users, __proto__ among them when it was made');
  t.equal(Object.getPrototypeOf(fresh.snapshot().users), Object.prototype, 'a user named __proto__ is an entry, not the prototype');
});

t.test("a node's own change is not read back: its notification names a generation the node has already taken", { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const cluster = randomUUID();
  const writer = await PostgresStore.open(connection, { clusterUuid: cluster, claim: true });
  t.teardown(() => writer.close());
  const other = await PostgresStore.open(connection, { clusterUuid: cluster, claim: true });
  t.teardown(() => other.close());
  const reloads = { writer: 0, other: 0 };
  for (const [name, store] of [['writer', writer], ['other', other]] as const) {
    const reload = store.reload.bind(store);
    store.reload = () => (reloads[name]++, reload());
  }
  for (let index = 0; index < 5; index++) await writer.putUser(user(`u${index}`));
  t.ok((await within(2_000, () => other.getUser('u4') !== undefined)) !== undefined, 'the other node took the changes');
  await new Promise((resolve) => setTimeout(resolve, 200));
  // The 5 s poll may fall within the test once; the notifications of its own five changes must not add any.
  t.ok(reloads.writer <= 1, `the writer read nothing back for its own changes (${reloads.writer} reads, the poll's at most)`);
  t.ok(reloads.other >= 1 && reloads.other <= 5, `the other node read ${reloads.other} times for 5 changes`);
});

t.test('a node reads only the rows that changed since the generation it knows; the whole store when the log cannot tell', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const store = await PostgresStore.open(connection, { clusterUuid: randomUUID(), claim: true });
  t.teardown(() => store.close());
  for (const name of ['ada', 'bea', 'cy']) await store.putUser(user(name));
  await store.putRole({ name: 'ops', id: randomUUID(), endpoints: [], entities: [] });
  const client = new pg.Client({ ...connection });
  await client.connect();
  t.teardown(() => client.end());
  const known = String((await query<{ generation: string }>(connection, 'SELECT generation FROM securenode_meta'))[0]!.generation);

  await store.putUser({ ...store.getUser('bea')!, passwordHash: 'changed', roles: ['ops'] });
  await store.deleteUser('cy');
  // Each statement is a round trip, and round trips are most of what a node spends reading another's change.
  const sent: string[] = [];
  const send = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => (sent.push(typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text), send(...args))) as typeof client.query;
  const read = await readStore(client, known);
  t.same(read, { generation: String(BigInt(known) + 2n), changes: [{ op: 'deleteUser', username: 'cy' }, { op: 'putUser', user: store.getUser('bea') }] }, 'two changes later: the deleted user and the changed one, nothing else');
  t.equal(sent.length, 1, 'read in one statement: one snapshot without a transaction, one round trip');
  t.equal(await readStore(client, read!.generation), undefined, 'nothing new: nothing read');

  await store.deleteRole('ops');
  t.same(await readStore(client, read!.generation), { generation: String(BigInt(known) + 3n), changes: [{ op: 'deleteRole', name: 'ops' }, { op: 'putUser', user: store.getUser('bea') }] }, "a deleted role, and the user it was taken from");

  // A writer that keeps no log (an older securenode, a hand-made change): the whole store.
  await commitUnheard(connection, [{ op: 'putUser', user: user('dee') }]);
  sent.length = 0;
  const whole = await readStore(client, String(BigInt(known) + 3n));
  t.ok(whole && 'data' in whole && Object.keys(whole.data.users).sort().join() === 'ada,bea,dee', 'a generation with no entry in the log: the whole store is read');
  t.same(
    sent.slice(1).map((text) => /FROM (securenode_\w+)$/.exec(text)?.[1] ?? text),
    ['BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', 'securenode_meta', 'securenode_users', 'securenode_roles', 'securenode_api_keys', 'securenode_service_tokens', 'securenode_sessions', 'COMMIT'],
    'after the one statement found the log short, in a transaction of its own (one snapshot)',
  );
  // A node further behind than the log reaches: the whole store.
  await query(connection, 'UPDATE securenode_meta SET changes_since = generation');
  await store.putUser(user('eve'));
  const behind = await readStore(client, known);
  t.ok(behind && 'data' in behind, 'behind the log: the whole store is read');
  t.same(await readStore(client, String(BigInt(known) + 4n)), { generation: String(BigInt(known) + 5n), changes: [{ op: 'putUser', user: store.getUser('eve') }] }, 'within it: only the change');
});

t.test('a change on one node reaches another within a second, by NOTIFY; while the database is away, logins read from memory and changes are refused', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const cluster = randomUUID();
  const writer = await PostgresStore.open(connection, { clusterUuid: cluster, claim: true });
  t.teardown(() => writer.close());
  const proxy = await cuttableProxy(t);
  const reader = await PostgresStore.open({ ...connection, port: proxy.port }, { clusterUuid: cluster, claim: true });
  t.teardown(() => reader.close());

  await writer.putUser(user('ada', 'hash-1'));
  const seen = await within(1_000, () => reader.getUser('ada')?.passwordHash === 'hash-1');
  t.ok(seen !== undefined, `the other node has the new user within a second (${Math.round(seen ?? -1)} ms)`);
  const generation = reader.generation;
  await writer.putUser({ ...writer.getUser('ada')!, passwordHash: 'hash-2' });
  t.ok((await within(1_000, () => reader.getUser('ada')?.passwordHash === 'hash-2')) !== undefined, 'and the changed password');
  t.ok(reader.generation > generation, 'the generation moved: caches derived from the store see it');

  await proxy.cut();
  t.equal(reader.getUser('ada')?.passwordHash, 'hash-2', 'the database away: reads come from memory');
  await t.rejects(reader.putUser(user('bea')), { code: 'ERR_STORE_UNAVAILABLE', message: /^the security database cannot be reached \(.+\); changes are refused until it is back \(logins keep working\)$/ });
  await writer.putUser({ ...writer.getUser('ada')!, passwordHash: 'hash-3' });
  t.equal(reader.getUser('ada')?.passwordHash, 'hash-2', 'a change made meanwhile is not heard');

  await proxy.restore();
  const caught = await within(8_000, () => reader.getUser('ada')?.passwordHash === 'hash-3');
  t.ok(caught !== undefined, `once the database is back, the missed change is loaded (${Math.round(caught ?? -1)} ms)`);
  await reader.putUser(user('bea'));
  t.ok(writer.getUser('bea') || (await within(1_000, () => writer.getUser('bea') !== undefined)) !== undefined, 'and changes are taken again');
  t.same(await query(connection, 'SELECT username FROM securenode_users ORDER BY username'), [{ username: 'ada' }, { username: 'bea' }]);
});

t.test('a change committed while a node reads the whole store at its start reaches it by its notification, not by the poll 5 s later', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const cluster = randomUUID();
  const writer = await PostgresStore.open(connection, { clusterUuid: cluster, claim: true });
  t.teardown(() => writer.close());
  // Enough users that the starting node's read of them is still running when the change commits.
  await query(connection, "INSERT INTO securenode_users (username, id, password_hash, roles, enabled) SELECT 'u' || i, gen_random_uuid(), 'h', '{}', true FROM generate_series(1, 200000) AS i");
  const watcher = new pg.Client({ ...connection });
  await watcher.connect();
  t.teardown(() => watcher.end());
  const opening = PostgresStore.open(connection, { clusterUuid: cluster, claim: false });
  // Its read's transaction is open from the users' statement until the node has taken their rows (most of the read).
  const reading = async () =>
    (await watcher.query("SELECT 1 FROM pg_stat_activity WHERE state IN ('active', 'idle in transaction') AND query LIKE 'SELECT username, id, password_hash%FROM securenode_users'")).rowCount !== 0;
  const deadline = Date.now() + 20_000;
  while (!(await reading()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
  t.ok(Date.now() < deadline, "the starting node's read of the users was seen running");
  // After its snapshot: the read cannot hold it.
  await writer.putUser(user('during'));
  const starting = await opening;
  t.teardown(() => starting.close());
  t.ok((await within(1_000, () => starting.getUser('during') !== undefined)) !== undefined, 'the new node has the change within a second of its start');
});

t.test("a node's changes made at once against a database that does not answer are refused as soon as one alone is, not one after another", { skip: postgresSkip }, async (t) => {
  const { proxy, store } = await storeBehindProxy(t);
  await store.putUser(user('ada', 'hash-1'));
  proxy.freeze();
  const started = performance.now();
  // A node's changes wait for the one before them (they would wait on the generation's lock anyway), but not for long.
  const outcomes = await Promise.allSettled(Array.from({ length: 4 }, (_, index) => store.putUser(user(`late${index}`, 'hash'))));
  const ms = performance.now() - started;
  t.same(
    outcomes.map((outcome) => (outcome.status === 'rejected' ? (outcome.reason as { code?: string }).code : outcome.status)),
    Array(4).fill('ERR_STORE_UNAVAILABLE'),
    'all four refused as the store unavailable (503 on the REST API)',
  );
  // One alone waits for the query timeout (10 s); four one after another would take four times that.
  t.ok(ms < 16_000, `in ${Math.round(ms)} ms`);
  await proxy.cut();
});

t.test('catchUp takes a change that no notification announced, with a reload that starts after it is asked; a database away makes it false, never an error', { skip: postgresSkip }, async (t) => {
  const { connection, proxy, store } = await storeBehindProxy(t);
  t.equal(await store.catchUp(), false, 'nothing new: false');

  await commitUnheard(connection, [{ op: 'putUser', user: user('ada', 'hash-1') }]);
  t.equal(store.getUser('ada'), undefined, 'committed without NOTIFY: not heard');
  t.equal(await store.catchUp(), true, 'caught up: true');
  t.equal(store.getUser('ada')?.passwordHash, 'hash-1', 'and the user is there');

  // A reload already reading when the change commits may miss it; the catch-up asked after the commit must not join it.
  for (let round = 0; round < 20; round++) {
    const early = store.reload();
    await commitUnheard(connection, [{ op: 'putUser', user: { ...store.getUser('ada')!, passwordHash: `hash-round-${round}` } }]);
    const caught = store.catchUp();
    await early;
    await caught;
    if (store.getUser('ada')?.passwordHash !== `hash-round-${round}`) {
      t.fail(`round ${round}: a catch-up asked after the commit answered from a reload that read before it`);
      break;
    }
  }
  t.pass('twenty rounds of a reload racing a commit: every catch-up asked after the commit saw it');

  await proxy.cut();
  await commitUnheard(connection, [{ op: 'putUser', user: user('bea') }]);
  t.equal(await store.catchUp(), false, 'the database away: false, and no error');
  await proxy.restore();
  t.equal(await store.catchUp(), true, 'back: the change is taken');
  t.ok(store.getUser('bea'));
});

t.test("a change whose COMMIT the database took but never answered is said to be perhaps made, not refused; the node then takes it from its notification", { skip: postgresSkip }, async (t) => {
  const { connection, proxy, store } = await storeBehindProxy(t);
  await store.putUser(user('ada', 'hash-1'));
  const cut = proxy.cutAtCommit();
  await t.rejects(store.putUser(user('bea', 'hash-2')), {
    code: 'ERR_STORE_UNAVAILABLE',
    message: /^the security database did not answer the change's commit \(.+\); the change may have been made: read it back before making it again$/,
  });
  await cut;
  t.same(await query(connection, 'SELECT username FROM securenode_users ORDER BY username'), [{ username: 'ada' }, { username: 'bea' }], 'the database took it');
  t.ok((await within(10_000, () => store.getUser('bea') !== undefined)) !== undefined, 'and the node takes it, as it takes any change it hears of');
  // Cut before its COMMIT was sent: refused, as before.
  await proxy.cut();
  await t.rejects(store.putUser(user('cy')), { code: 'ERR_STORE_UNAVAILABLE', message: /^the security database cannot be reached \(.+\); changes are refused until it is back \(logins keep working\)$/ });
});

t.test('a database that cannot be used is said in words, never with the password', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const cluster = randomUUID();
  const where = (database: string, port = connection.port) => `database '${database}' at ${connection.host}:${port} (user '${connection.user}')`;
  const wrong = PostgresStore.open({ ...connection, password: 'not-the-password-1' }, { clusterUuid: cluster, claim: true });
  await t.rejects(wrong, { code: 'ERR_STORE_CONFIG', message: `the PostgreSQL server refused the ${where(connection.database)}: password authentication failed for user "${connection.user}"; check security.store.postgres.user and security.store.postgres.password` });
  await t.rejects(PostgresStore.open({ ...connection, database: 'securenode_none' }, { clusterUuid: cluster, claim: true }), {
    code: 'ERR_STORE_CONFIG',
    message: `the ${where('securenode_none')} does not exist; create it (createdb -O ${connection.user} securenode_none), or set security.store.postgres.database`,
  });
  const proxy = await cuttableProxy(t);
  const closedPort = proxy.port;
  await proxy.cut();
  await t.rejects(PostgresStore.open({ ...connection, port: closedPort }, { clusterUuid: cluster, claim: true }), {
    code: 'ERR_STORE_UNAVAILABLE',
    message: `cannot use the security store in the ${where(connection.database, closedPort)}: connect ECONNREFUSED 127.0.0.1:${closedPort}; start the server, or check security.store.postgres.host, port and ssl`,
  });
  const [refused] = await Promise.allSettled([wrong]);
  const message = String((refused as PromiseRejectedResult).reason?.message);
  t.notMatch(message, 'not-the-password-1', 'the password given is not in the message');
  t.notMatch(message, postgresServer!.password!, 'nor the real one');
});

t.test('refused credentials: read again at once, then not before neg_ttl while the reads fail; the new ones taken when they come', { skip: postgresSkip }, async (t) => {
  const database = await ownedDatabase(t);
  const admin = { ...postgresServer!, database: 'postgres' };
  let current = database.password!;
  let secretStoreDown = false;
  let reads = 0;
  const refresh = async () => {
    reads++;
    if (secretStoreDown) throw new Error('the secret store did not answer');
    return { ...database, password: current };
  };
  const store = await PostgresStore.open(database, { clusterUuid: randomUUID(), claim: true, refresh, retryAfterMs: 400 });
  t.teardown(() => store.close());
  await store.putUser(user('before'));
  t.equal(reads, 0, 'nothing refused, nothing read');

  // Rotated in PostgreSQL, but the secret store is down: the refusal reads once, and the next refusals within neg_ttl do not read again.
  const rotated = `rotated-${randomUUID()}`;
  await query(admin, `ALTER ROLE ${database.user} PASSWORD '${rotated}'`);
  await query(admin, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [database.user]);
  secretStoreDown = true;
  await t.rejects(store.putUser(user('during-1')), { code: 'ERR_STORE_UNAVAILABLE' });
  await t.rejects(store.putUser(user('during-2')), { code: 'ERR_STORE_UNAVAILABLE' });
  t.equal(reads, 1, 'one read, then none before neg_ttl');

  // The secret store is back with the new password: after neg_ttl, the next refusal reads it and the change goes through.
  secretStoreDown = false;
  current = rotated;
  await new Promise((resolve) => setTimeout(resolve, 450));
  await store.putUser(user('after'));
  t.equal(reads, 2);
  t.equal(store.connection.password, rotated, 'new connections use the new password');
  t.ok(store.getUser('after') && store.getUser('before'), 'both changes are in the store');
});

t.test('a refresh that throws at once (not a rejected promise) does not stick: the next refusal reads again', { skip: postgresSkip }, async (t) => {
  const database = await ownedDatabase(t);
  const admin = { ...postgresServer!, database: 'postgres' };
  let current = database.password!;
  let down = false;
  let reads = 0;
  const refresh = (): Promise<typeof database> => {
    reads++;
    if (down) throw new Error('the secret store did not answer');
    return Promise.resolve({ ...database, password: current });
  };
  const store = await PostgresStore.open(database, { clusterUuid: randomUUID(), claim: true, refresh });
  t.teardown(() => store.close());
  const rotated = `rotated-${randomUUID()}`;
  await query(admin, `ALTER ROLE ${database.user} PASSWORD '${rotated}'`);
  await query(admin, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [database.user]);
  down = true;
  // A pooled connection that was terminated fails first without a refusal; try until the server has refused and the refresh has thrown.
  for (let attempt = 0; attempt < 8 && reads === 0; attempt++) await t.rejects(store.putUser(user(`during${attempt}`)), { code: 'ERR_STORE_UNAVAILABLE' });
  t.ok(reads >= 1, `the refresh was called, and threw (${reads} reads)`);
  const before = reads;
  down = false;
  current = rotated;
  await store.putUser(user('after'));
  t.equal(reads, before + 1, 'read again once the store was back');
  t.ok(store.getUser('after'));
});

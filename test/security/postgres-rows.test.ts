import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import pg from 'pg';
import { readStore } from '../../src/security/postgres-rows.js';
import { PostgresStore } from '../../src/security/postgres-store.js';
import type { StoreData } from '../../src/security/store.js';
import { cuttableProxy, postgresSkip, query, testDatabase } from '../helpers/postgres.js';

// Reading the store's rows (postgres-rows.ts): the whole store as its rows stream in, and a role list as one frozen
// array shared by every entry that holds it. What the reads mean, change by change, is postgres-store.test.ts's.

const hash = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';

/** A client on `connection`, ended at the test's end. */
async function clientOf(t: Test, connection: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(connection);
  await client.connect();
  t.teardown(() => client.end().catch(() => {}));
  return client;
}

/** The whole store as a starting node reads it. */
async function wholeRead(client: pg.ClientBase): Promise<StoreData> {
  const read = await readStore(client, undefined);
  if (!read || !('data' in read)) throw new Error('expected a whole read');
  return read.data;
}

t.test('users that hold the same role list share one frozen array; a list of their own is theirs; nothing can edit one', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const clusterUuid = randomUUID();
  const store = await PostgresStore.open(connection, { clusterUuid, claim: true });
  t.teardown(() => store.close());
  const put = (username: string, roles: string[]) => store.putUser({ username, id: randomUUID(), passwordHash: hash, roles, enabled: true });
  await put('ada', ['ops', 'audit']);
  await put('bea', ['ops', 'audit']);
  await put('cy', ['audit', 'ops']);
  await put('dee', []);
  const users = (await wholeRead(await clientOf(t, connection))).users;
  t.equal(users.ada!.roles, users.bea!.roles, 'one array for one list');
  t.not(users.cy!.roles, users.ada!.roles, 'the same names in another order are another list');
  t.same(users.cy!.roles, ['audit', 'ops']);
  t.same(users.dee!.roles, []);
  for (const name of ['ada', 'cy', 'dee']) {
    t.ok(Object.isFrozen(users[name]!.roles), `${name}'s list is frozen`);
    // An edit of a shared list would give every holder the role: it throws instead.
    t.throws(() => (users[name]!.roles as string[]).push('superuser'), TypeError);
  }
  t.same(users.bea!.roles, ['ops', 'audit'], 'bea still holds what she held');

  // Read from the change log (JSON), the same: the changes to eve and ada read in one statement.
  const client = await clientOf(t, connection);
  const known = (await readStore(client, undefined))!.generation;
  await put('eve', ['ops', 'audit']);
  await put('ada', ['ops', 'audit']);
  const read = await readStore(client, known);
  const changes = read && 'changes' in read ? read.changes : [];
  const taken = Object.fromEntries(changes.flatMap((change) => (change.op === 'putUser' ? [[change.user.username, change.user]] : [])));
  t.same(Object.keys(taken).sort(), ['ada', 'eve'], 'both changes, read from the log');
  t.equal(taken.ada!.roles, taken.eve!.roles, 'one array for one list in one change read');
  t.ok(Object.isFrozen(taken.eve!.roles));
  t.same(taken.eve!.roles, ['ops', 'audit']);
});

t.test("role lists of any text, each user's own, read whole and read as changes: the lists as written, past the lists one read keeps", { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const clusterUuid = randomUUID();
  const store = await PostgresStore.open(connection, { clusterUuid, claim: true });
  t.teardown(() => store.close());
  // What an array literal and JSON each must quote or escape, and text of any script.
  const name = fc.string({ maxLength: 10, unit: fc.oneof(fc.constantFrom('"', '\\', ',', '{', '}', '[', ']', ' ', 'NULL', 'null', '\n', '\u2028'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })) }).filter((value) => !value.includes('\u0000'));
  const lists = fc.sample(fc.uniqueArray(name, { maxLength: 4 }), { numRuns: 300, seed: 17 });
  for (const [index, roles] of lists.entries()) await store.putUser({ username: `u${index}`, id: randomUUID(), passwordHash: hash, roles, enabled: true });
  const client = await clientOf(t, connection);
  const check = (users: StoreData['users'], how: string) => {
    const wrong = lists.findIndex((roles, index) => JSON.stringify(users[`u${index}`]?.roles) !== JSON.stringify(roles));
    t.equal(wrong, -1, `${how}: every list as written${wrong === -1 ? '' : ` (u${wrong}: ${JSON.stringify(lists[wrong])})`}`);
  };
  check((await wholeRead(client)).users, 'read whole');
  const other = await PostgresStore.open(connection, { clusterUuid, claim: false });
  t.teardown(() => other.close());
  for (const [index, roles] of lists.entries()) await store.putUser({ username: `u${index}`, id: randomUUID(), passwordHash: hash, roles, enabled: false });
  await other.reload();
  check(other.snapshot().users, 'read as changes');

  // One read shares at most 10,000 lists; the rest are each user's own, and as written all the same.
  await query(connection, "INSERT INTO securenode_users (username, id, password_hash, roles, enabled) SELECT 'many' || i, gen_random_uuid(), $1, ARRAY['r' || i, 'ops'], true FROM generate_series(1, 10050) AS i", [hash]);
  const users = (await wholeRead(client)).users;
  const wrong = Array.from({ length: 10_050 }, (_, index) => index + 1).filter((i) => JSON.stringify(users[`many${i}`]?.roles) !== JSON.stringify([`r${i}`, 'ops']));
  t.same(wrong, [], 'the 10,050 distinct lists, each as written');
  t.ok(Object.isFrozen(users.many10050!.roles), 'a list past those kept is frozen too');
});

t.test('a whole read cut off while its rows stream in is refused, never taken as the store it had read so far', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const store = await PostgresStore.open(connection, { clusterUuid: randomUUID(), claim: true });
  t.teardown(() => store.close());
  await query(connection, "INSERT INTO securenode_users (username, id, password_hash, roles, enabled) SELECT 'u' || i, gen_random_uuid(), $1, '{read-only}', true FROM generate_series(1, 200000) AS i", [hash]);
  const proxy = await cuttableProxy(t);
  const client = new pg.Client({ ...connection, port: proxy.port });
  await client.connect();
  // The client's own error (the connection lost) is the query's; the client emits it too.
  client.on('error', () => {});
  t.teardown(() => client.end().catch(() => {}));
  // Cut once the read has started streaming: the server is sending rows.
  const reading = wholeRead(client);
  const admin = await clientOf(t, connection);
  for (let tries = 0; tries < 500; tries++) {
    const { rows } = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE 'SELECT username, id, password_hash%'", [connection.database]);
    if (rows[0].n > 0) break;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await proxy.cut();
  await t.rejects(reading, /Connection terminated|ECONNRESET|terminated unexpectedly/, 'the read fails');
});

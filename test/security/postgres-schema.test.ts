import pg from 'pg';
import t from 'tap';
import { migrate, migrations, schemaVersion } from '../../src/security/postgres-schema.js';
import { postgresSkip, query, testDatabase } from '../helpers/postgres.js';

t.test('the schema: created once, then nothing to do; nodes starting together take turns', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const clients = await Promise.all([1, 2, 3].map(async () => {
    const client = new pg.Client({ ...connection });
    await client.connect();
    t.teardown(() => client.end());
    return client;
  }));
  const results = await Promise.all(clients.map((client) => migrate(client)));
  t.same(results.map((result) => result.applied.length).sort(), [0, 0, migrations.length], 'three at once: exactly one applies the migrations');
  t.same(results.map((result) => result.after), [schemaVersion, schemaVersion, schemaVersion]);
  const again = await migrate(clients[0]!);
  t.same({ before: again.before, after: again.after, applied: again.applied }, { before: schemaVersion, after: schemaVersion, applied: [] }, 'a second run changes nothing');
  const recorded = await query(connection, 'SELECT version, name FROM securenode_schema_migrations ORDER BY version');
  t.same(recorded, migrations.map(({ version, name }) => ({ version, name })));
  const tables = await query<{ table_name: string }>(connection, "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'securenode_%' ORDER BY table_name");
  t.same(tables.map((row) => row.table_name), ['securenode_api_keys', 'securenode_changes', 'securenode_meta', 'securenode_roles', 'securenode_schema_migrations', 'securenode_service_tokens', 'securenode_sessions', 'securenode_users']);
});

t.test('a failed step leaves the database as it was; a newer database is refused', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const client = new pg.Client({ ...connection });
  await client.connect();
  t.teardown(() => client.end());
  const broken = [...migrations, { version: schemaVersion + 1, name: 'broken', statements: ['CREATE TABLE securenode_extra (id int)', 'SELECT * FROM no_such_table'] }];
  await t.rejects(migrate(client, broken), { message: 'relation "no_such_table" does not exist' });
  t.same(await query(connection, "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'securenode_%'"), [], 'not even version 1 stayed: one transaction');

  await migrate(client);
  await query(connection, "INSERT INTO securenode_schema_migrations (version, name) VALUES (7, 'from the future')");
  await t.rejects(migrate(client), { code: 'ERR_STORE_CONFIG', message: 'the security database is at schema version 7, newer than this securenode knows (4); upgrade securenode on this node' });
});

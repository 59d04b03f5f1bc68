import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { encodeAdminToken, hashSecret, newCredential } from '../../src/security/api-keys.js';
import { hashPassword } from '../../src/security/password.js';
import type { PostgresConnection } from '../../src/security/postgres-connection.js';
import { admin, checkOneSecurityTruth, password, threeNodes, within } from '../helpers/cluster.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';
import { httpsJson } from '../helpers/https.js';
import { commitUnheard, postgresSkip, query, testDatabase } from '../helpers/postgres.js';

/** A node pointed at a database, its password given as a vault reference to an environment variable. */
function storeEnv(connection: PostgresConnection): Record<string, string> {
  return {
    SECURENODE_SECURITY_STORE_TYPE: 'postgres',
    SECURENODE_SECURITY_STORE_POSTGRES_HOST: connection.host,
    SECURENODE_SECURITY_STORE_POSTGRES_PORT: String(connection.port),
    SECURENODE_SECURITY_STORE_POSTGRES_DATABASE: connection.database,
    SECURENODE_SECURITY_STORE_POSTGRES_USER: connection.user,
    SECURENODE_SECURITY_STORE_POSTGRES_PASSWORD: '{vault://env/pg-password}',
    PG_PASSWORD: connection.password!,
  };
}

t.test('securenode migrations bootstrap: creates the schema, then has nothing to do; the file store needs none', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const dir = await nodeOwnedDir(t);
  const env = storeEnv(connection);
  const where = `database '${connection.database}' at ${connection.host}:${connection.port} (user '${connection.user}')`;
  const first = await runCliAsNodeUser(['migrations', 'bootstrap', '--home', `${dir}/new`], env);
  t.same(first, {
    exitCode: 0,
    stdout: `applied migration 1: the security store: users, roles, API keys, service tokens, and the cluster that owns it\napplied migration 2: API keys belong to their owner's id and keep the roles they were made with\napplied migration 3: a log of what each change touched, so that nodes read only what changed\napplied migration 4: console sessions, known to every node\nthe security store in the ${where} is at schema version 4\n`,
    stderr: '',
  });
  t.same(await runCliAsNodeUser(['migrations', 'bootstrap', '--home', `${dir}/new`], env), { exitCode: 0, stdout: `the security store in the ${where} is already at schema version 4; nothing to do\n`, stderr: '' });
  t.same(await query(connection, 'SELECT version FROM securenode_schema_migrations ORDER BY version'), [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
  t.same(await runCliAsNodeUser(['migrations', 'bootstrap', '--home', `${dir}/new`], { PG_PASSWORD: connection.password! }), {
    exitCode: 78,
    stdout: '',
    stderr: 'ERROR: security.store.type is file (the embedded store, which needs no migrations); set security.store.type: postgres and security.store.postgres.* to use a database\n',
  });
  t.same(await runCliAsNodeUser(['migrations', 'bootstrap', '--home', `${dir}/new`], { ...env, PG_PASSWORD: 'not-the-password-1' }), {
    exitCode: 78,
    stdout: '',
    stderr: `ERROR: the PostgreSQL server refused the ${where}: password authentication failed for user "${connection.user}"; check security.store.postgres.user and security.store.postgres.password\n`,
  });
});

t.test('three nodes on one PostgreSQL store: every node reports all of them, and one security truth, heard through LISTEN/NOTIFY', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const env = storeEnv(connection);
  // No bootstrap first: the first start creates the schema.
  const cluster = await threeNodes(t, env);
  await checkOneSecurityTruth(t, cluster);
  const { dir, first, second, third, call } = cluster;
  t.match(first.node.output(), `"event":"security_store","type":"postgres"`, 'the node says where its store is');
  t.same(await query(connection, "SELECT username FROM securenode_users WHERE username NOT LIKE 'par%' ORDER BY username"), [{ username: 'ada' }, { username: 'elastic' }], 'the users are rows of the database');
  t.equal((await query(connection, "SELECT username FROM securenode_users WHERE username LIKE 'par%'")).length, 12, 'and so are the parallel writers\' users');

  // A node joined without the store settings would have a store of its own: the cluster refuses it, saying why.
  const token = await runCliAsNodeUser(['create-enrollment-token', '-s', 'node', '--home', first.home], env);
  const stray = await startNodeProcess(`${dir}/stray`, { terminal: false, args: ['-E', 'node.name=stray', '--enrollment-token', token.stdout.trim()] });
  t.teardown(() => stray.signal('SIGKILL'));
  await stray.waitFor(/handshake refused: this node keeps the security store in 'postgres', the peer in 'file'; every node of a cluster needs the same security\.store\.\* settings/);
  t.equal(((await call(first, 'GET', '/_cluster/health', admin)).body as { number_of_nodes: number }).number_of_nodes, 3, 'and does not count it');
  await stray.stop();

  // No node holds the store: with the first node stopped, changes go on.
  await first.node.stop();
  t.equal((await call(second, 'PUT', '/_security/user/bea', admin, { password: 'bea-password-123', roles: [] })).status, 200, 'a user created on the second node with the first stopped');
  const took = await within(1_000, async () => (await call(third, 'GET', '/_security/_authenticate', 'bea:bea-password-123')).status === 200);
  t.ok(took !== undefined, `logs in on the third within a second (${Math.round(took ?? -1)} ms)`);

  // A stopped node resets a password in the database; the running nodes take it at once.
  const reset = await runCliAsNodeUser(['reset-password', '-u', 'bea', '-b', '-s', '--home', first.home], env);
  t.equal(reset.exitCode, 0, reset.stderr);
  const fresh = reset.stdout.trim();
  t.match(fresh, /^[A-Za-z0-9*\-_=+]{20}$/);
  for (const member of [second, third]) {
    const changed = await within(1_000, async () => (await call(member, 'GET', '/_security/_authenticate', 'bea:bea-password-123')).status === 401);
    t.ok(changed !== undefined, `the old password fails on ${member.name} within a second`);
    t.equal((await call(member, 'GET', '/_security/_authenticate', `bea:${fresh}`)).status, 200, `the reset one works on ${member.name}`);
  }

  // A node of another cluster is refused the database, and changes nothing.
  const stranger = await startNodeProcess(`${dir}/stranger`, { terminal: false, env: { ...env, ELASTIC_PASSWORD: 'stranger-pass-123' } });
  t.teardown(() => stranger.signal('SIGKILL'));
  const exit = await stranger.exited();
  t.equal(exit.code, 78);
  t.match(stranger.output(), new RegExp(`ERROR: the database '${connection.database}' at ${connection.host}:${connection.port} \\(user '${connection.user}'\\) holds the security store of another cluster \\(uuid [0-9a-f-]{36}\\), not of this node's \\(uuid [0-9a-f-]{36}\\); give each cluster its own database, or add a node to that cluster by starting a new home with a node enrollment token from it\\n`));
  t.equal((await call(second, 'GET', '/_security/_authenticate', admin)).status, 200, "the cluster's elastic password is unchanged");
});

t.test('a node whose database cannot be reached does not start, and says which and why', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const dir = await nodeOwnedDir(t);
  const node = await startNodeProcess(`${dir}/alone`, { terminal: false, env: { ...storeEnv({ ...connection, port: 1 }), ELASTIC_PASSWORD: 'alone-pass-1234' } });
  t.teardown(() => node.signal('SIGKILL'));
  t.equal((await node.exited()).code, 69);
  t.match(node.output(), `ERROR: cannot use the security store in the database '${connection.database}' at ${connection.host}:1 (user '${connection.user}'): connect ECONNREFUSED 127.0.0.1:1; start the server, or check security.store.postgres.host, port and ssl\n`);
});

t.test('what another node committed a moment ago works here at once, before its notification arrives: a refused credential reads the store again first', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const dir = await nodeOwnedDir(t);
  const node = await startNodeProcess(`${dir}/one`, { terminal: false, env: { ...storeEnv(connection), ELASTIC_PASSWORD: password } });
  t.teardown(() => node.signal('SIGKILL'));
  await node.waitFor(/"event":"bootstrap_password_applied"/);
  const port = await node.httpPort();
  const ca = await readFile(`${homePaths(`${dir}/one`).certsDir}/http_ca.crt`, 'utf8');
  const whoami = async (headers: Record<string, string>) => {
    const answer = await httpsJson({ port, ca, path: '/_security/_authenticate', headers });
    return `${answer.status} ${(answer.body as { username?: string }).username ?? ''}`;
  };
  const basic = (user: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` });
  const [meta] = await query<{ token_hash_key: string }>(connection, 'SELECT token_hash_key FROM securenode_meta');
  const hashKey = Buffer.from(meta!.token_hash_key, 'base64');

  // Each is committed as another node would, but with no NOTIFY: this node learns of it only by reading again (its poll is 5 s away).
  const quiet = { username: 'quiet', id: randomUUID(), passwordHash: await hashPassword('quiet-password-1'), roles: ['read-only'], enabled: true };
  await commitUnheard(connection, [{ op: 'putUser', user: quiet }]);
  t.equal(await whoami(basic('quiet', 'quiet-password-1')), '200 quiet', 'a user made elsewhere a moment ago logs in');
  await commitUnheard(connection, [{ op: 'putUser', user: { ...quiet, passwordHash: await hashPassword('quiet-password-2') } }]);
  t.equal(await whoami(basic('quiet', 'quiet-password-2')), '200 quiet', 'so does a password changed elsewhere a moment ago');

  const key = newCredential();
  await commitUnheard(connection, [{ op: 'putApiKeys', keys: [{ id: key.id, name: 'unheard', secretHash: hashSecret(hashKey, key.secret), creator: 'quiet', ownerId: quiet.id, roles: ['read-only'], scope: 'all', created: Date.now(), invalidated: false }] }]);
  t.equal(await whoami({ authorization: `ApiKey ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}` }), '200 quiet', 'an API key made elsewhere a moment ago works');
  const token = newCredential();
  await commitUnheard(connection, [{ op: 'putApiKeys', keys: [{ id: token.id, name: 'unheard-token', secretHash: hashSecret(hashKey, token.secret), creator: 'quiet', ownerId: quiet.id, scope: 'admin_token', created: Date.now(), invalidated: false }] }]);
  t.equal(await whoami({ 'securenode-admin-token': encodeAdminToken(token.id, token.secret) }), '200 quiet', 'and an admin token');

  // An attacker's made-up keys, users and tokens: each refused (a read again costs one generation check when nothing changed).
  const forged = await fc.sample(
    fc.oneof(
      fc.record({ id: fc.string({ minLength: 1, maxLength: 40 }), secret: fc.string({ maxLength: 60 }) }).map(({ id, secret }) => ({ authorization: `ApiKey ${Buffer.from(`${id}:${secret}`).toString('base64')}` })),
      fc.record({ user: fc.stringMatching(/^[a-z]{1,12}$/), secret: fc.string({ minLength: 1, maxLength: 30 }) }).map(({ user, secret }) => basic(user, secret)),
      fc.string({ minLength: 1, maxLength: 80 }).filter((value) => /^[\x21-\x7e]+$/.test(value)).map((value) => ({ 'securenode-admin-token': value })),
    ),
    { numRuns: 40, seed: 17 },
  );
  const answers = await Promise.all(forged.map((headers) => whoami(headers)));
  t.same([...new Set(answers.map((answer) => answer.split(' ')[0]))].sort().filter((status) => status !== '429'), ['401'], `forty forged credentials: each refused (${answers.filter((answer) => answer.startsWith('429')).length} turned away by the throttle)`);
});

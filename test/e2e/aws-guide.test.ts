// Seed 002, Kong's AWS Secrets Manager guide, with securenode in place of Kong:
// the database user and password live in one JSON secret, the store's settings
// reference it, `migrations bootstrap` creates the schema and seeds the
// superuser from ELASTIC_PASSWORD (Kong's KONG_PASSWORD), and a node starts on
// it. AWS is moto (with authentication on), the database the test PostgreSQL.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import t from 'tap';
import { run } from '../../src/cli/main.js';
import { homePaths } from '../../src/home/layout.js';
import { verifyPassword } from '../../src/security/password.js';
import { runCli } from '../helpers/cli.js';
import { curl, statusOf } from '../helpers/curl.js';
import { memoryIo } from '../helpers/memory-io.js';
import { startMoto } from '../helpers/moto.js';
import { nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';
import { ownedDatabase, postgresServer, postgresSkip, query, testDatabase } from '../helpers/postgres.js';
import { remember } from '../helpers/secrets-ledger.js';

t.test('seed 002: credentials in Secrets Manager, the superuser seeded by migrations bootstrap, a node on it', { skip: postgresSkip }, async (t) => {
  const moto = await startMoto(t);
  // The SDK's credential chain reads this process's environment (the in-process bootstrap); instance metadata is off (loopback only).
  const awsEnv = { ...moto.env, AWS_EC2_METADATA_DISABLED: 'true' };
  Object.assign(process.env, awsEnv);
  const database = await ownedDatabase(t);
  await moto.createSecret('kong-gateway-database', JSON.stringify({ pg_user: database.user, pg_password: database.password }));
  const settings = [
    '-E', 'security.store.type=postgres',
    '-E', `security.store.postgres.host=${database.host}`,
    '-E', `security.store.postgres.port=${database.port}`,
    '-E', `security.store.postgres.database=${database.database}`,
    '-E', 'security.store.postgres.user={vault://aws/kong-gateway-database/pg_user}',
    '-E', 'security.store.postgres.password={vault://aws/kong-gateway-database/pg_password}',
    '-E', `vault.aws.region=${moto.region}`,
    '-E', `vault.aws.endpoint_url=${moto.endpoint}`,
  ];
  const home = `${await nodeOwnedDir(t)}/home`;
  // Checking the setup first, as `kong vault get` does: the value, or why not.
  const awsSettings = settings.slice(-4);
  t.same(await runCli(['vault', 'get', '{vault://aws/kong-gateway-database/pg_user}', '--home', home, ...awsSettings], { env: awsEnv }), { exitCode: 0, stdout: `${database.user}\n`, stderr: '' });
  t.same(await runCli(['vault', 'get', '{vault://aws/kong-gateway-database/nope}', '--home', home, ...awsSettings], { env: awsEnv }), { exitCode: 78, stdout: '', stderr: "ERROR: failed to dereference '{vault://aws/kong-gateway-database/nope}': subfield nope not found in JSON secret\n" });
  t.same(await runCli(['vault', 'get', '{vault://aws/kong-gateway-database/pg_user}', '--home', home, ...awsSettings], { env: { ...awsEnv, AWS_SECRET_ACCESS_KEY: 'wrong-secret-key-000000' } }), { exitCode: 78, stdout: '', stderr: "ERROR: failed to dereference '{vault://aws/kong-gateway-database/pg_user}': AWS refused the credentials (HTTP 403)\n" });
  const where = `database '${database.database}' at ${database.host}:${database.port} (user '${database.user}')`;

  const first = memoryIo({ ...awsEnv, ELASTIC_PASSWORD: 'guide-superuser-1' });
  t.equal(await run(['migrations', 'bootstrap', '--home', home, ...settings], first.io), 0, first.stderr());
  t.match(first.stdout(), `the security store in the ${where} is at schema version 4\ncreated the elastic superuser with the password from ELASTIC_PASSWORD\n`);
  t.notMatch(first.stdout() + first.stderr(), database.password, 'the resolved password is in no output');

  const second = memoryIo({ ...awsEnv, ELASTIC_PASSWORD: 'another-password-2' });
  t.equal(await run(['migrations', 'bootstrap', '--home', home, ...settings], second.io), 0, second.stderr());
  t.equal(
    second.stdout(),
    `the security store in the ${where} is already at schema version 4; nothing to do\nthe security store already has users: the password from ELASTIC_PASSWORD was not applied (change a password with \`npx securenode reset-password -u elastic --home ${home}\`)\n`,
  );
  const [row] = await query<{ password_hash: string; roles: string[] }>(database, "SELECT password_hash, roles FROM securenode_users WHERE username = 'elastic'");
  t.same([await verifyPassword(row!.password_hash, 'guide-superuser-1'), await verifyPassword(row!.password_hash, 'another-password-2'), row!.roles], [true, false, ['superuser']], 'the first bootstrap\'s password, kept');

  // A real node on the database, its credentials read from Secrets Manager at start.
  const node = await startNodeProcess(home, { terminal: false, args: settings, env: awsEnv });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  const ca = `${homePaths(home).certsDir}/http_ca.crt`;
  t.equal(statusOf(await curl(port, ca, ['-u', 'elastic:guide-superuser-1'])), '200', 'the seeded superuser logs in');
  t.notMatch(node.output(), 'Password for the elastic user', 'the store was not empty: nothing generated');

  // Rotation, as the guide's secret rotation does it: a new password in Secrets Manager and for the role,
  // and the node's connections cut. The next change re-reads the references and succeeds the first time.
  const rotated = randomBytes(18).toString('base64url');
  remember({ kind: 'secret', value: rotated, source: 'the rotated guide database password' });
  await moto.rotateSecret('kong-gateway-database', JSON.stringify({ pg_user: database.user, pg_password: rotated }));
  await query({ ...postgresServer!, database: 'postgres' }, `ALTER ROLE ${database.user} PASSWORD '${rotated}'`);
  await query({ ...postgresServer!, database: 'postgres' }, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [database.user]);
  const change = await curl(port, ca, ['-u', 'elastic:guide-superuser-1', '-X', 'PUT', '-H', 'Content-Type: application/json', '-d', '{"password":"after-rotation-1","roles":["read-only"]}'], '/_security/user/after_rotation');
  t.equal(statusOf(change), '200', `a change right after the rotation succeeds: ${change.stdout}`);
  await node.waitFor(/"event":"store_credentials_renewed","reason":"refused"/);
  t.equal(statusOf(await curl(port, ca, ['-u', 'after_rotation:after-rotation-1'])), '200', 'the user it made logs in');
  for (const secret of [database.password, rotated]) t.notMatch(node.output(), secret, 'no password, old or new, in the output');
  await node.stop();
});

t.test('with a ttl, rotated credentials are read again before the server refuses them', { skip: postgresSkip }, async (t) => {
  const moto = await startMoto(t);
  const awsEnv = { ...moto.env, AWS_EC2_METADATA_DISABLED: 'true' };
  const database = await ownedDatabase(t);
  await moto.createSecret('db', JSON.stringify({ user: database.user, password: database.password }));
  const settings = [
    '-E', 'security.store.type=postgres', '-E', `security.store.postgres.host=${database.host}`, '-E', `security.store.postgres.port=${database.port}`, '-E', `security.store.postgres.database=${database.database}`,
    '-E', 'security.store.postgres.user={vault://aws/db/user}', '-E', 'security.store.postgres.password={vault://aws/db/password?ttl=1s}',
    '-E', `vault.aws.region=${moto.region}`, '-E', `vault.aws.endpoint_url=${moto.endpoint}`,
  ];
  const home = `${await nodeOwnedDir(t)}/home`;
  const node = await startNodeProcess(home, { terminal: false, args: settings, env: { ...awsEnv, ELASTIC_PASSWORD: 'ttl-superuser-1' } });
  t.teardown(() => node.signal('SIGKILL'));
  await node.httpPort();
  t.notMatch(node.output(), 'store_credentials_renewed', 'nothing changed: nothing renewed');
  const rotated = randomBytes(18).toString('base64url');
  remember({ kind: 'secret', value: rotated, source: 'the rotated ttl database password' });
  await moto.rotateSecret('db', JSON.stringify({ user: database.user, password: rotated }));
  await node.waitFor(/"event":"store_credentials_renewed","reason":"ttl"/, 10_000);
  t.notMatch(node.output(), rotated);
  await node.stop();
});

t.test('three bootstraps at once with three passwords: exactly one seeds the superuser', { skip: postgresSkip }, async (t) => {
  const database = await testDatabase(t);
  const settings = ['-E', 'security.store.type=postgres', '-E', `security.store.postgres.host=${database.host}`, '-E', `security.store.postgres.port=${database.port}`, '-E', `security.store.postgres.database=${database.database}`, '-E', `security.store.postgres.user=${database.user}`, '-E', 'security.store.postgres.password={vault://env/pg-password}'];
  const home = `${t.testdir()}/home`;
  await mkdir(home, { recursive: true });
  // One of them reads its password from a file (ELASTIC_PASSWORD_FILE), as a service would.
  await writeFile(`${home}-password`, 'third-password-3\n', { mode: 0o600 });
  const sources: Record<string, string>[] = [{ ELASTIC_PASSWORD: 'first-password-1' }, { ELASTIC_PASSWORD: 'second-password-2' }, { ELASTIC_PASSWORD_FILE: `${home}-password` }];
  const runs = await Promise.all(sources.map((source) => runCli(['migrations', 'bootstrap', '--home', home, ...settings], { env: { PG_PASSWORD: database.password!, ...source } })));
  t.same(runs.map((result) => result.exitCode), [0, 0, 0], runs.map((result) => result.stderr).join(''));
  t.equal(runs.filter((result) => result.stdout.includes('created the elastic superuser')).length, 1, 'one created it');
  t.equal(runs.filter((result) => result.stdout.includes('was not applied')).length, 2, 'two said they did not');
  t.equal(runs.filter((result) => /applied migration 1:/.test(result.stdout)).length, 1, 'one applied the schema');
  const users = await query<{ username: string }>(database, 'SELECT username FROM securenode_users');
  t.same(users.map((user) => user.username), ['elastic']);
  const short = await runCli(['migrations', 'bootstrap', '--home', home, ...settings], { env: { PG_PASSWORD: database.password!, ELASTIC_PASSWORD: 'short' } });
  t.same([short.exitCode, short.stdout], [78, ''], 'a bootstrap password under 12 characters is refused before anything is done');
  t.match(short.stderr, 'the bootstrap password from ELASTIC_PASSWORD is shorter than 12 characters');
});

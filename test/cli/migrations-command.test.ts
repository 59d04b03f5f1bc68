// In process (run() with an injected io), so that the commands count in coverage; test/e2e/cluster-postgres.test.ts runs them as real processes.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import t from 'tap';
import { run } from '../../src/cli/main.js';
import { homePaths } from '../../src/home/layout.js';
import { httpsJson } from '../helpers/https.js';
import { memoryIo } from '../helpers/memory-io.js';
import { postgresSkip, query, testDatabase } from '../helpers/postgres.js';

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('migrations bootstrap, a start on the database, and an offline reset-password there, in process', { skip: postgresSkip }, async (t) => {
  const connection = await testDatabase(t);
  const home = `${t.testdir()}/home`;
  const settings = ['-E', 'security.store.type=postgres', '-E', `security.store.postgres.host=${connection.host}`, '-E', `security.store.postgres.port=${connection.port}`, '-E', `security.store.postgres.database=${connection.database}`, '-E', `security.store.postgres.user=${connection.user}`, '-E', 'security.store.postgres.password={vault://env/pg-password}'];
  const env = { PG_PASSWORD: connection.password! };
  const where = `database '${connection.database}' at ${connection.host}:${connection.port} (user '${connection.user}')`;

  const bootstrap = memoryIo(env);
  t.equal(await run(['migrations', 'bootstrap', '--home', home, ...settings], bootstrap.io), 0, bootstrap.stderr());
  t.equal(bootstrap.stdout(), `applied migration 1: the security store: users, roles, API keys, service tokens, and the cluster that owns it\napplied migration 2: API keys belong to their owner's id and keep the roles they were made with\napplied migration 3: a log of what each change touched, so that nodes read only what changed\napplied migration 4: console sessions, known to every node\nthe security store in the ${where} is at schema version 4\n`);
  const missing = memoryIo(env);
  t.equal(await run(['migrations', 'bootstrap', '--home', home, ...settings, '-E', 'security.store.postgres.database=securenode_none'], missing.io), 78);
  t.equal(missing.stderr(), `ERROR: the ${where.replace(connection.database, 'securenode_none')} does not exist; create it (createdb -O ${connection.user} securenode_none), or set security.store.postgres.database\n`);

  const node = memoryIo({ ...env, ELASTIC_PASSWORD: 'in-process-pass-1' });
  t.teardown(() => void process.emit('SIGTERM'));
  const started = run(['start', '--allow-root', '--home', home, '-E', 'http.port=0', '-E', 'transport.port=0', '-E', 'http.host=127.0.0.1', ...settings], node.io);
  await until(() => node.stdout().includes('"event":"node_started"'), 'the node to start');
  t.match(node.stdout(), `the security store is the ${where}`);
  const port = Number(/"http":"127\.0\.0\.1:(\d+)"/.exec(node.stdout())![1]);
  const ca = await readFile(`${homePaths(home).certsDir}/http_ca.crt`, 'utf8');
  t.equal((await httpsJson({ port, ca, auth: 'elastic:in-process-pass-1' })).status, 200, 'the elastic user, created in the database');
  process.emit('SIGTERM');
  t.equal(await started, 0);

  const offline = memoryIo(env);
  t.equal(await run(['reset-password', '-u', 'elastic', '-b', '-s', '--home', home, ...settings], offline.io), 0, offline.stderr());
  const [row] = await query<{ password_hash: string }>(connection, "SELECT password_hash FROM securenode_users WHERE username = 'elastic'");
  t.match(row?.password_hash, /^\$argon2id\$/, 'the stopped node changed the database directly');
  const unknown = memoryIo(env);
  t.equal(await run(['reset-password', '-u', 'nobody-here', '-b', '--home', home, ...settings], unknown.io), 75);
  t.equal(unknown.stderr(), 'ERROR: Failed to reset password for the [nobody-here] user: user [nobody-here] not found in the security database\n');
  // A home whose node never started (its config written by hand): it belongs to no cluster, so it may not touch the database.
  await mkdir(`${home}-never-started/config`, { recursive: true });
  await writeFile(`${home}-never-started/config/securenode.yml`, '');
  const fresh = memoryIo(env);
  t.equal(await run(['reset-password', '-u', 'elastic', '-b', '--home', `${home}-never-started`, ...settings], fresh.io), 75);
  t.equal(fresh.stderr(), `ERROR: Failed to reset password for the [elastic] user: the node of ${home}-never-started has never started, so it belongs to no cluster yet; start it first\n`);
});

import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Transform } from 'node:stream';
import pg from 'pg';
import type { PostgresConnection } from '../../src/security/postgres-connection.js';
import { writeChange } from '../../src/security/postgres-writes.js';
import type { StoreOp } from '../../src/security/store.js';
import { remember } from './secrets-ledger.js';

/**
 * The private PostgreSQL server that `.ci/postgres` starts (its env file sets
 * TEST_POSTGRES_*), or undefined. CI always starts one; elsewhere the store
 * tests are skipped, saying how to run them.
 */
export const postgresServer: Omit<PostgresConnection, 'database'> | undefined =
  process.env.TEST_POSTGRES_HOST && process.env.TEST_POSTGRES_PASSWORD
    ? {
        host: process.env.TEST_POSTGRES_HOST,
        port: Number(process.env.TEST_POSTGRES_PORT ?? 5432),
        user: process.env.TEST_POSTGRES_USER ?? 'securenode_test',
        password: process.env.TEST_POSTGRES_PASSWORD,
        ssl: false,
      }
    : undefined;

export const postgresSkip = postgresServer ? false : 'no PostgreSQL server: run `bash .ci/postgres && . /tmp/securenode-pg/env` first (bash .ci/run does)';

if (postgresServer) remember({ kind: 'secret', value: postgresServer.password!, source: 'the test PostgreSQL password' });

/** A new, empty database on the test server, dropped after the test. */
export async function testDatabase(t: { teardown(fn: () => unknown): void }): Promise<PostgresConnection> {
  const server = postgresServer!;
  const database = `securenode_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ ...server, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  t.teardown(async () => {
    const dropper = new pg.Client({ ...server, database: 'postgres' });
    await dropper.connect();
    try {
      // FORCE ends the test's own connections, but refuses (42501) a backend of no role of ours: most likely an autovacuum worker, as one
      // may be soon after a fill of 100,000 rows (the refusal was seen in CI): such a worker is done in moments, so try again.
      for (let attempt = 1; ; attempt++) {
        try {
          await dropper.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
          break;
        } catch (error) {
          if ((error as { code?: string }).code !== '42501' || attempt === 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    } finally {
      // Never left open: an open client keeps the test's process alive until its timeout.
      await dropper.end();
    }
  });
  return { ...server, database };
}

/** A database owned by a role of its own, as the guide's `kong` user owns `kong`: the role and its password. */
export async function ownedDatabase(t: { teardown(fn: () => unknown): void }) {
  const admin = { ...postgresServer!, database: 'postgres' };
  const role = `guide_${randomBytes(5).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  remember({ kind: 'secret', value: password, source: 'the guide database role password' });
  await query(admin, `CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  // Membership lets the test's own role hand the database over (PostgreSQL 15 asks for it).
  await query(admin, `GRANT ${role} TO ${postgresServer!.user}`);
  t.teardown(() => query(admin, `DROP ROLE IF EXISTS ${role}`));
  const database = await testDatabase(t);
  await query(admin, `ALTER DATABASE ${database.database} OWNER TO ${role}`);
  return { ...database, user: role, password };
}

/** Run `sql` in a database of the test server. */
export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(connection: PostgresConnection, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ ...connection });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Commit changes to a security store database as a node does, but without its
 * NOTIFY: what a node that missed the notification (or has not polled yet)
 * does not know about until it reads again.
 */
export async function commitUnheard(connection: PostgresConnection, changes: readonly StoreOp[]): Promise<void> {
  const client = new pg.Client({ ...connection });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('UPDATE securenode_meta SET generation = generation + 1');
    for (const change of changes) await writeChange(client, change);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

/** A TCP proxy to the test server that a test can cut and restore: the database going away, for real, without stopping the shared server. */
export async function cuttableProxy(t: { teardown(fn: () => unknown): void }): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void>; freeze(): void; cutAtCommit(): Promise<void> }> {
  const server = postgresServer!;
  const sockets = new Set<Socket>();
  let listener: Server | undefined;
  let port = 0;
  let frozen = false;
  let atCommit: (() => void) | undefined;
  /** A database that does not answer: connections stay open, and nothing passes either way. */
  const freeze = () => {
    frozen = true;
    for (const socket of sockets) {
      socket.unpipe();
      socket.pause();
    }
  };
  const open = () =>
    new Promise<void>((resolve) => {
      listener = createServer((socket) => {
        const upstream = connect(server.port, server.host);
        for (const end of [socket, upstream]) {
          sockets.add(end);
          end.on('close', () => sockets.delete(end));
          end.on('error', () => {});
        }
        if (frozen) return;
        // Watched for the COMMIT of a change (a connection that bumped the generation): passed on, then the client cut.
        let changing = false;
        let committing = false;
        const watch = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            if (atCommit && chunk.includes('UPDATE securenode_meta')) changing = true;
            if (atCommit && changing && chunk.includes('COMMIT')) {
              const cutDone = atCommit;
              atCommit = undefined;
              committing = true;
              // The server reads the COMMIT, commits, then reads the end of its connection and closes it; its answer goes
              // nowhere, and the client's connection is cut at once.
              upstream.unpipe(socket);
              upstream.resume();
              upstream.once('close', cutDone);
              upstream.end(chunk);
              socket.destroy();
              return done();
            }
            done(null, chunk);
          },
        });
        socket.pipe(watch).pipe(upstream).pipe(socket);
        socket.on('close', () => committing || upstream.destroy());
        upstream.on('close', () => socket.destroy());
      });
      listener.listen(port, '127.0.0.1', () => {
        port = (listener!.address() as { port: number }).port;
        resolve();
      });
    });
  const cut = async () => {
    const closed = new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  /** The next change's COMMIT reaches the database, and its answer never reaches the client: resolves once the database has committed it (and closed that connection). */
  const cutAtCommit = () => new Promise<void>((resolve) => (atCommit = resolve));
  await open();
  t.teardown(cut);
  return { get port() { return port; }, cut, restore: open, freeze, cutAtCommit };
}

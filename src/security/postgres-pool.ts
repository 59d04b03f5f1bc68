import pg from 'pg';
import { clientConfig, type PostgresConnection } from './postgres-connection.js';

// The connections of the PostgreSQL store: its pool, and what a failure to use one means.

/** A lost or refused connection (a Node socket error, a closed connection, SQLSTATE class 08 or a shutdown), not a failed statement. */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code !== 'string' || code.startsWith('E') || /^(08|57P0)/.test(code);
}

/** The server refused the user or password (28P01 invalid_password, 28000 invalid_authorization_specification): rotated credentials, perhaps. */
export function isRefusedCredentials(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '28P01' || code === '28000';
}

/** A pool of connections; an idle connection that breaks is replaced on the next use, and must not crash the node. */
export function newPool(connection: PostgresConnection): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(connection), max: 4 });
  pool.on('error', () => {});
  return pool;
}

/** A pooled connection; one that breaks while checked out reports it through its query, not as a crash. */
export async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  if (client.listenerCount('error') === 0) client.on('error', () => {});
  return client;
}

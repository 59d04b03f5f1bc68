import pg from 'pg';
import type { Logger } from 'pino';
import { clientConfig, type PostgresConnection } from './postgres-connection.js';
import type { RenewalOptions } from './postgres-options.js';

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

/**
 * The store's pool, with credentials that can be read again from their
 * references: when the server refuses them (a password rotated in the secret
 * store, as Kong's kong.vault.try) and every `renewEveryMs`. Changed
 * credentials get a new pool; the old one ends once its connections are
 * released. One renewal at a time; a failed read keeps the credentials in use,
 * is logged without a value, and the next is tried only `retryAfterMs` later.
 */
export class RenewingPool {
  #connection: PostgresConnection;
  #pool: pg.Pool;
  readonly #options: RenewalOptions;
  #renewing: Promise<boolean> | undefined;
  /** No read of the credentials before this time (after a failed one, with neg_ttl). */
  #notBefore = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(connection: PostgresConnection, pool: pg.Pool, options: RenewalOptions) {
    this.#connection = connection;
    this.#pool = pool;
    this.#options = options;
    if (options.renewEveryMs !== undefined) this.#timer = setInterval(() => void this.renew('ttl'), options.renewEveryMs).unref();
  }

  /** The connection's settings in use now. */
  get connection(): PostgresConnection {
    return this.#connection;
  }

  /** A connection from the pool; refused credentials are read again once, and the connection tried again. */
  async client(): Promise<pg.PoolClient> {
    try {
      return await checkout(this.#pool);
    } catch (error) {
      if (!isRefusedCredentials(error) || !(await this.renew('refused'))) throw error;
      return checkout(this.#pool);
    }
  }

  /** Read the credentials again; whether they changed. */
  renew(why: 'refused' | 'ttl'): Promise<boolean> {
    if (!this.#options.refresh || Date.now() < this.#notBefore) return Promise.resolve(false);
    // Cleared once settled, by a callback that always runs later: never before the assignment, whatever refresh does.
    this.#renewing ??= this.#readAgain(why).finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #readAgain(why: 'refused' | 'ttl'): Promise<boolean> {
    const logger = this.#options.logger;
    try {
      const next = await this.#options.refresh!();
      const now = this.#connection;
      if (next.user === now.user && next.password === now.password && next.host === now.host && next.port === now.port && next.database === now.database) return false;
      const old = this.#pool;
      this.#connection = next;
      this.#pool = newPool(next);
      void old.end().catch(() => {});
      logger?.info({ event: 'store_credentials_renewed', reason: why }, `the security database's credentials were read again from their references (${why === 'refused' ? 'the server refused the ones in use' : 'their ttl passed'}); new connections use them`);
      return true;
    } catch (error) {
      if (this.#options.retryAfterMs !== undefined) this.#notBefore = Date.now() + this.#options.retryAfterMs;
      logger?.warn({ event: 'store_credentials_unread', reason: why, error: (error as Error).message }, "the security database's credentials could not be read again; the ones in use are kept");
      return false;
    }
  }

  /** Stop renewing and close the pool. */
  async end(): Promise<void> {
    clearInterval(this.#timer);
    await this.#renewing;
    await this.#pool.end();
  }
}

import type { ClientConfig } from 'pg';
import { SecurenodeError } from '../errors.js';
import type { Settings } from '../settings/settings.js';
import { securenodeCommand, shellWord } from '../home/command-hint.js';

/** Where the PostgreSQL store lives, from security.store.postgres.* (the password already resolved from its vault reference). */
export interface PostgresConnection {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
  readonly ssl: boolean;
}

export function postgresConnection(settings: Settings): PostgresConnection {
  const password = settings.string('security.store.postgres.password');
  return {
    host: settings.string('security.store.postgres.host')!,
    port: settings.number('security.store.postgres.port')!,
    database: settings.string('security.store.postgres.database')!,
    user: settings.string('security.store.postgres.user')!,
    ssl: settings.bool('security.store.postgres.ssl') === true,
    ...(password === undefined ? {} : { password }),
  };
}

/** The database in words, for messages: never the password. */
export function describeConnection(connection: PostgresConnection): string {
  const server = connection.host.startsWith('/') ? `the socket in ${connection.host}, port ${connection.port}` : `${connection.host}:${connection.port}`;
  return `database '${connection.database}' at ${server} (user '${connection.user}')`;
}

/** The pg client settings: TLS verifies the server's certificate and name against the system CAs. */
export function clientConfig(connection: PostgresConnection) {
  // Checked against pg's ClientConfig, but not declared as one: the published types of this module then need no @types/pg.
  return {
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    ...(connection.password === undefined ? {} : { password: connection.password }),
    ssl: connection.ssl ? { rejectUnauthorized: true } : false,
    connectionTimeoutMillis: 5_000,
    query_timeout: 10_000,
    keepAlive: true,
    application_name: 'securenode',
  } satisfies ClientConfig;
}

/**
 * A failure to reach or use the database, said with the settings to check.
 * PostgreSQL's own messages name the user and database, never the password.
 */
export function connectionError(error: unknown, connection: PostgresConnection): SecurenodeError {
  if (error instanceof SecurenodeError) return error;
  const { code, message } = error as { code?: string; message?: string };
  const where = describeConnection(connection);
  const reason = message || code || String(error);
  switch (code) {
    case '28P01':
    case '28000':
      return new SecurenodeError('ERR_STORE_CONFIG', `the PostgreSQL server refused the ${where}: ${reason}; check security.store.postgres.user and security.store.postgres.password`, { cause: error });
    case '3D000':
      return new SecurenodeError('ERR_STORE_CONFIG', `the ${where} does not exist; create it (createdb -O ${shellWord(connection.user)} ${shellWord(connection.database)}), or set security.store.postgres.database`, { cause: error });
    case '42501':
      return new SecurenodeError('ERR_STORE_CONFIG', `the ${where} may not create the security store's tables: ${reason}; grant the user CREATE on the database, or have its owner run \`${securenodeCommand()} migrations bootstrap\` with this node's --home`, { cause: error });
    default:
      return new SecurenodeError('ERR_STORE_UNAVAILABLE', `cannot use the security store in the ${where}: ${reason}; start the server, or check security.store.postgres.host, port and ssl`, { cause: error });
  }
}

/** A change refused because the database did not answer it (a dropped or timed-out connection): the node goes on from memory. */
export function unavailableError(error: unknown): SecurenodeError {
  const reason = (error as Error).message || String(error);
  return new SecurenodeError('ERR_STORE_UNAVAILABLE', `the security database cannot be reached (${reason}); changes are refused until it is back (logins keep working)`, { cause: error });
}

/** The database went away between a COMMIT and its answer: the change may have been made, and is not to be made again unread. */
export function unansweredCommit(error: unknown): SecurenodeError {
  const reason = (error as Error).message || String(error);
  return new SecurenodeError('ERR_STORE_UNAVAILABLE', `the security database did not answer the change's commit (${reason}); the change may have been made: read it back before making it again`, { cause: error });
}

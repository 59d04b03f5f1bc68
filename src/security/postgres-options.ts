import type { Logger } from 'pino';
import type { PostgresConnection } from './postgres-connection.js';

// The PostgreSQL store's options, in a module of their own that names no
// driver type: the published declarations of PostgresStore reach these, and a
// program using the library must compile without the driver's types.

/** Which cluster's store a node looks for, and whether it may claim a database for it. */
export interface ClaimOptions {
  /** The node's cluster: the first node to open the database claims it for its cluster; a node of another is refused. */
  readonly clusterUuid: string;
  /** Whether this may claim a database no node has claimed yet (a node starting), or only use a claimed one (a tool). */
  readonly claim: boolean;
}

/** What a renewing pool needs: how to read the credentials again, how often, and how long to wait after a failed read. */
export interface RenewalOptions {
  /**
   * Reads the connection's settings again, their vault references included:
   * called when the server refuses the credentials (a password rotated in the
   * secret store), as Kong's kong.vault.try, and every `renewEveryMs`.
   */
  readonly refresh?: () => Promise<PostgresConnection>;
  /** Read the credentials again this often (the references' ttl); a failed read keeps the credentials in use. */
  readonly renewEveryMs?: number;
  /** After a failed read, try the next only this much later (the references' neg_ttl), however often the server refuses meanwhile. */
  readonly retryAfterMs?: number;
  readonly logger?: Logger;
}

/** What PostgresStore.open needs besides the connection: the claim's and the pool's. */
export interface PostgresStoreOptions extends ClaimOptions, RenewalOptions {}

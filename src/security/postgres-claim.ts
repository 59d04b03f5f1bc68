import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { SecurenodeError } from '../errors.js';
import { describeConnection, type PostgresConnection } from './postgres-connection.js';
import { checkout } from './postgres-pool.js';
import { migrate } from './postgres-schema.js';
import type { ClaimOptions } from './postgres-options.js';

/**
 * Bring the schema up to date and check that the database holds this node's cluster's store: the first node to open
 * it claims it (`claim`: a node starting, not a tool), a node of another cluster is refused. The cluster's key that
 * hashes API key and service token secrets, kept in the database since the keys are shared.
 */
export async function claimDatabase(pool: pg.Pool, connection: PostgresConnection, options: ClaimOptions): Promise<Buffer> {
  const client = await checkout(pool);
  let owner: { cluster_uuid: string; token_hash_key: string } | undefined;
  try {
    await migrate(client);
    if (options.claim) {
      await client.query('INSERT INTO securenode_meta (cluster_uuid, token_hash_key) VALUES ($1, $2) ON CONFLICT (singleton) DO NOTHING', [options.clusterUuid, randomBytes(32).toString('base64')]);
    }
    owner = (await client.query<{ cluster_uuid: string; token_hash_key: string }>('SELECT cluster_uuid, token_hash_key FROM securenode_meta')).rows[0];
  } finally {
    client.release();
  }
  const where = describeConnection(connection);
  if (!owner) throw new SecurenodeError('ERR_STORE_CONFIG', `no node has started with the ${where} yet; start a node first`);
  if (owner.cluster_uuid !== options.clusterUuid) {
    throw new SecurenodeError(
      'ERR_STORE_CONFIG',
      `the ${where} holds the security store of another cluster (uuid ${owner.cluster_uuid}), not of this node's (uuid ${options.clusterUuid}); give each cluster its own database, or add a node to that cluster by starting a new home with a node enrollment token from it`,
    );
  }
  return Buffer.from(owner.token_hash_key, 'base64');
}

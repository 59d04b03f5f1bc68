import type { Logger } from 'pino';
import { removeLeftovers } from '../io/atomic-write.js';
import type { Settings } from '../settings/settings.js';
import { FileStore } from './file-store.js';
import { referencesTtl } from '../settings/vault/resolve.js';
import { postgresConnection } from './postgres-connection.js';
import type { SecurityStore } from './store.js';

/** What opening the store needs: where the embedded one lives, and the cluster a database must belong to. */
export interface OpenStoreOptions {
  readonly dataDir: string;
  readonly clusterUuid: string;
  /** A starting node claims a database no node has used yet; a tool only uses a claimed one. */
  readonly claim: boolean;
  readonly logger?: Logger;
  /** The settings as written (references unresolved) and how to resolve them again: for credentials that rotate in a secret store. */
  readonly references?: { readonly raw: Settings; readonly resolve: (raw: Settings) => Promise<Settings> };
}

/** The security store that security.store.type names: the embedded file, or the shared PostgreSQL database. */
export async function openStore(settings: Settings, options: OpenStoreOptions): Promise<SecurityStore> {
  if (settings.string('security.store.type') !== 'postgres') {
    // The node and the tools open the store holding the data dir's lock: no one writes it meanwhile, so a base being
    // written when its process was killed (a copy of the store, password hashes perhaps of users deleted since, that
    // nothing reads) can go. FileStore.open removes nothing itself: a program may open the store beside a running node.
    await removeLeftovers(options.dataDir, 'security.json');
    return FileStore.open(options.dataDir);
  }
  const { references } = options;
  const credentialKeys = ['security.store.postgres.user', 'security.store.postgres.password'];
  const renewEveryMs = references ? referencesTtl(references.raw, credentialKeys) : undefined;
  const retryAfterMs = references ? referencesTtl(references.raw, credentialKeys, 'neg_ttl') : undefined;
  // Loaded only for a database: a tool on a file store never loads the PostgreSQL client.
  const { PostgresStore } = await import('./postgres-store.js');
  return PostgresStore.open(postgresConnection(settings), {
    clusterUuid: options.clusterUuid,
    claim: options.claim,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(references ? { refresh: async () => postgresConnection(await references.resolve(references.raw)) } : {}),
    ...(renewEveryMs === undefined ? {} : { renewEveryMs }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

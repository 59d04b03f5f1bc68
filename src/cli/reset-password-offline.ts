import { SecurenodeError } from '../errors.js';
import type { HomePaths } from '../home/layout.js';
import { createAuditLog } from '../logging/audit.js';
import { acquireLock, joinedCluster, readIdentity } from '../node/data-dir.js';
import { FileStore } from '../security/file-store.js';
import { openStore } from '../security/open-store.js';
import { hashPassword } from '../security/password.js';
import type { Settings } from '../settings/settings.js';

/**
 * The node is stopped: change the store directly, holding the home's lock so
 * that no node starts meanwhile. The embedded store is this home's own; a
 * database is the cluster's, and its running nodes hear the change at once.
 */
export async function resetOffline(paths: HomePaths, user: string, password: string, settings: Settings): Promise<void> {
  const release = await acquireLock(paths.dataDir);
  try {
    const postgres = settings.string('security.store.type') === 'postgres';
    if (!postgres && (await joinedCluster(paths.dataDir))) {
      throw new SecurenodeError(
        'ERR_STORE_UNAVAILABLE',
        `this node joined a cluster, whose first node holds the security store; nothing was changed. Run reset-password on that node, or start this node (${paths.home}) and run it again: the change then goes through the cluster`,
      );
    }
    const identity = postgres ? await readIdentity(paths.dataDir) : undefined;
    if (postgres && !identity) throw new SecurenodeError('ERR_STORE_CONFIG', `the node of ${paths.home} has never started, so it belongs to no cluster yet; start it first`);
    const store = await openStore(settings, { dataDir: paths.dataDir, clusterUuid: identity?.clusterUuid ?? '', claim: false });
    try {
      const notFound = () => new Error(`user [${user}] not found in ${store instanceof FileStore ? store.path : 'the security database'}`);
      if (!store.getUser(user)) throw notFound();
      const passwordHash = await hashPassword(password);
      // Worked out from the store as it is at the change: running nodes of a database may change the user meanwhile.
      await store.mutate((data) => {
        const existing = Object.hasOwn(data.users, user) ? data.users[user] : undefined;
        if (!existing) throw notFound();
        return { ops: [{ op: 'putUser', user: { ...existing, passwordHash } }], result: undefined };
      });
    } finally {
      await store.close();
    }
    const audit = await createAuditLog(paths.logsDir);
    audit.record('password_changed', { user: '_local_operator' }, { target: user, via: 'offline' });
  } finally {
    await release();
  }
}

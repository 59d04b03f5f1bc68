import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { migrationLock } from './postgres-schema.js';
import { writeChange } from './postgres-writes.js';
import { channel } from './postgres-listen.js';
import { superuserName } from './superuser.js';

/**
 * The elastic superuser with this password hash, on an empty store only, as
 * Kong's migrations bootstrap seeds its super admin from KONG_PASSWORD: under
 * the migrations' advisory lock, so that of bootstraps run at once exactly one
 * creates it, and never over a store that has any user (a later bootstrap with
 * another password changes nothing). Nodes already running are told, as for
 * any change.
 */
export async function seedSuperuser(client: pg.ClientBase, passwordHash: string): Promise<'created' | 'exists'> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [migrationLock]);
    const { rows } = await client.query<{ count: string }>('SELECT count(*) AS count FROM securenode_users');
    if (Number(rows[0]!.count) > 0) {
      await client.query('ROLLBACK');
      return 'exists';
    }
    await writeChange(client, { op: 'putUser', user: { username: superuserName, id: randomUUID(), passwordHash, roles: ['superuser'], enabled: true } });
    const bumped = await client.query<{ generation: string }>('UPDATE securenode_meta SET generation = generation + 1 RETURNING generation');
    if (bumped.rows[0]) await client.query('SELECT pg_notify($1, $2)', [channel, bumped.rows[0].generation]);
    await client.query('COMMIT');
    return 'created';
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

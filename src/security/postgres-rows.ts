import type pg from 'pg';
import { SecurenodeError } from '../errors.js';
import type { ApiKeyScope } from './api-keys.js';
import type { StoreData, StoreOp } from './store.js';

// The security store as rows: each StoreOp as statements with the meaning
// applyStoreOp gives it, and the whole store read back.

const date = (ms: number | undefined): Date | null => (ms === undefined ? null : new Date(ms));
const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));
/** A row's optional columns as absent keys, as the in-memory store has them. */
const present = <T extends object>(value: T): T => Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null && field !== undefined)) as T;

/** Write one change with the same meaning as applyStoreOp, row by row. */
export async function writeChange(client: pg.ClientBase, change: StoreOp): Promise<void> {
  switch (change.op) {
    case 'putUser': {
      const { user } = change;
      await client.query(
        `INSERT INTO securenode_users (username, id, password_hash, roles, enabled, full_name, email, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (username) DO UPDATE SET id = EXCLUDED.id, password_hash = EXCLUDED.password_hash, roles = EXCLUDED.roles, enabled = EXCLUDED.enabled,
           full_name = EXCLUDED.full_name, email = EXCLUDED.email, metadata = EXCLUDED.metadata`,
        [user.username, user.id, user.passwordHash, [...user.roles], user.enabled, user.fullName ?? null, user.email ?? null, json(user.metadata)],
      );
      return;
    }
    case 'deleteUser': {
      // The user's API keys die with it (ownedBy: by id, or by name for a key made before ids were recorded).
      const { rows } = await client.query<{ id: string }>('DELETE FROM securenode_users WHERE username = $1 RETURNING id', [change.username]);
      if (rows[0]) {
        await client.query('UPDATE securenode_api_keys SET invalidated = true WHERE NOT invalidated AND (owner_id = $1 OR (owner_id IS NULL AND creator = $2))', [rows[0].id, change.username]);
      }
      return;
    }
    case 'putRole': {
      const { role } = change;
      await client.query(
        `INSERT INTO securenode_roles (name, id, description, endpoints, entities) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET id = EXCLUDED.id, description = EXCLUDED.description, endpoints = EXCLUDED.endpoints, entities = EXCLUDED.entities`,
        [role.name, role.id, role.description ?? null, json(role.endpoints), json(role.entities)],
      );
      return;
    }
    case 'deleteRole':
      await client.query('DELETE FROM securenode_roles WHERE name = $1', [change.name]);
      await client.query('UPDATE securenode_users SET roles = array_remove(roles, $1) WHERE $1 = ANY(roles)', [change.name]);
      return;
    case 'putApiKeys':
      for (const key of change.keys) {
        await client.query(
          `INSERT INTO securenode_api_keys (id, name, secret_hash, creator, owner_id, roles, scope, created, expires, invalidated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash, creator = EXCLUDED.creator, owner_id = EXCLUDED.owner_id, roles = EXCLUDED.roles,
             scope = EXCLUDED.scope, created = EXCLUDED.created, expires = EXCLUDED.expires, invalidated = EXCLUDED.invalidated`,
          [key.id, key.name, key.secretHash, key.creator, key.ownerId ?? null, key.roles ? [...key.roles] : null, key.scope, date(key.created), date(key.expires), key.invalidated],
        );
      }
      return;
    case 'putServiceToken':
      await client.query(
        `INSERT INTO securenode_service_tokens (name, secret_hash, created) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, created = EXCLUDED.created`,
        [change.token.name, change.token.secretHash, date(change.token.created)],
      );
      return;
    default:
      throw new SecurenodeError('ERR_USAGE', `unknown store change '${String((change as { op?: unknown }).op)}'`);
  }
}

/** Every row of the store, read on `client` in whatever transaction it is in. */
export async function readRows(client: pg.ClientBase): Promise<StoreData> {
  // One client runs one query at a time.
  const users = await client.query('SELECT username, id, password_hash, roles, enabled, full_name, email, metadata FROM securenode_users');
  const roles = await client.query('SELECT name, id, description, endpoints, entities FROM securenode_roles');
  const keys = await client.query('SELECT id, name, secret_hash, creator, owner_id, roles, scope, created, expires, invalidated FROM securenode_api_keys');
  const tokens = await client.query('SELECT name, secret_hash, created FROM securenode_service_tokens');
  return {
    version: 1,
    users: Object.fromEntries(users.rows.map((row) => [row.username, present({ id: row.id, username: row.username, passwordHash: row.password_hash, roles: row.roles, enabled: row.enabled, fullName: row.full_name, email: row.email, metadata: row.metadata })])),
    roles: Object.fromEntries(roles.rows.map((row) => [row.name, present({ id: row.id, name: row.name, description: row.description, endpoints: row.endpoints, entities: row.entities })])),
    apiKeys: Object.fromEntries(keys.rows.map((row) => [row.id, present({ id: row.id, name: row.name, secretHash: row.secret_hash, creator: row.creator, ownerId: row.owner_id, roles: row.roles, scope: row.scope as ApiKeyScope, created: (row.created as Date).getTime(), expires: (row.expires as Date | null)?.getTime(), invalidated: row.invalidated })])),
    serviceTokens: Object.fromEntries(tokens.rows.map((row) => [row.name, { name: row.name, secretHash: row.secret_hash, created: (row.created as Date).getTime() }])),
  };
}

/** The whole store as one consistent read, or undefined when it is still at `known`. */
export async function readStore(client: pg.ClientBase, known: string | undefined): Promise<{ generation: string; data: StoreData } | undefined> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const generation = String((await client.query<{ generation: string }>('SELECT generation FROM securenode_meta')).rows[0]?.generation ?? '0');
    if (generation === known) return undefined;
    return { generation, data: await readRows(client) };
  } finally {
    await client.query('COMMIT').catch(() => {});
  }
}

import type pg from 'pg';
import { SecurenodeError } from '../errors.js';
import type { StoreOp, StoredUser } from './store.js';

// The security store as rows, written: each StoreOp as statements with the
// meaning applyStoreOp gives it (postgres-rows.ts reads them back).

const date = (ms: number | undefined): Date | null => (ms === undefined ? null : new Date(ms));
const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));

/** The kinds of row a change touches, as the change log names them. */
export type Kind = 'user' | 'role' | 'api_key' | 'service_token' | 'session';

/** One row a change touched: what a node that knows the generation before must read again. */
export interface Touched {
  readonly kind: Kind;
  readonly key: string;
}

/**
 * Write users, each with the meaning of a putUser, in one statement: a group of changes to users (roles, passwords)
 * costs the generation's lock one round trip, not one per user. Each column goes as an array; the roles of each user as
 * a JSON array (an array of arrays would be one array of all of them), read back in order. No two may have one
 * username (a statement cannot change a row twice). Nothing secret goes as JSON: a value the database refuses is never
 * quoted back in its error with a password hash beside it.
 */
async function writeUsers(client: pg.ClientBase, users: readonly StoredUser[]): Promise<void> {
  await client.query(
    `INSERT INTO securenode_users (username, id, password_hash, roles, enabled, full_name, email, metadata)
     SELECT username, id, password_hash, ARRAY(SELECT role FROM jsonb_array_elements_text(roles) WITH ORDINALITY AS listed (role, position) ORDER BY position),
       enabled, full_name, email, metadata
     FROM unnest($1::text[], $2::uuid[], $3::text[], $4::jsonb[], $5::boolean[], $6::text[], $7::text[], $8::jsonb[])
       AS written (username, id, password_hash, roles, enabled, full_name, email, metadata)
     ON CONFLICT (username) DO UPDATE SET id = EXCLUDED.id, password_hash = EXCLUDED.password_hash, roles = EXCLUDED.roles, enabled = EXCLUDED.enabled,
       full_name = EXCLUDED.full_name, email = EXCLUDED.email, metadata = EXCLUDED.metadata`,
    [
      users.map((user) => user.username),
      users.map((user) => user.id),
      users.map((user) => user.passwordHash),
      users.map((user) => JSON.stringify(user.roles)),
      users.map((user) => user.enabled),
      users.map((user) => user.fullName ?? null),
      users.map((user) => user.email ?? null),
      users.map((user) => json(user.metadata)),
    ],
  );
}

/**
 * Write the changes of one transaction in order, each with the meaning applyStoreOp gives it; the rows each touched.
 * Users put one after another (the changes of a group commit, most often) go in one statement, until a change of
 * another kind; a user put twice among them is written as the last put left it (a put replaces the whole row).
 */
export async function writeChanges(client: pg.ClientBase, changes: readonly (readonly StoreOp[])[]): Promise<Touched[][]> {
  const touched = changes.map((): Touched[] => []);
  const users = new Map<string, StoredUser>();
  const flush = async () => {
    if (users.size === 0) return;
    await writeUsers(client, [...users.values()]);
    users.clear();
  };
  for (const [index, ops] of changes.entries()) {
    for (const op of ops) {
      if (op.op === 'putUser') {
        users.set(op.user.username, op.user);
        touched[index]!.push({ kind: 'user', key: op.user.username });
      } else {
        await flush();
        touched[index]!.push(...(await writeChange(client, op)));
      }
    }
  }
  await flush();
  return touched;
}

/** Write one change with the same meaning as applyStoreOp, row by row; the rows it touched. */
export async function writeChange(client: pg.ClientBase, change: StoreOp): Promise<Touched[]> {
  switch (change.op) {
    case 'putUser':
      await writeUsers(client, [change.user]);
      return [{ kind: 'user', key: change.user.username }];
    case 'deleteUser': {
      // The user's API keys die with it (ownedBy: by id, or by name for a key made before ids were recorded).
      const { rows } = await client.query<{ id: string }>('DELETE FROM securenode_users WHERE username = $1 RETURNING id', [change.username]);
      if (!rows[0]) return [];
      const keys = await client.query<{ id: string }>('UPDATE securenode_api_keys SET invalidated = true WHERE NOT invalidated AND (owner_id = $1 OR (owner_id IS NULL AND creator = $2)) RETURNING id', [rows[0].id, change.username]);
      return [{ kind: 'user', key: change.username }, ...keys.rows.map((key): Touched => ({ kind: 'api_key', key: key.id }))];
    }
    case 'putRole': {
      const { role } = change;
      await client.query(
        `INSERT INTO securenode_roles (name, id, description, endpoints, entities) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET id = EXCLUDED.id, description = EXCLUDED.description, endpoints = EXCLUDED.endpoints, entities = EXCLUDED.entities`,
        [role.name, role.id, role.description ?? null, json(role.endpoints), json(role.entities)],
      );
      return [{ kind: 'role', key: role.name }];
    }
    case 'deleteRole': {
      await client.query('DELETE FROM securenode_roles WHERE name = $1', [change.name]);
      const users = await client.query<{ username: string }>('UPDATE securenode_users SET roles = array_remove(roles, $1) WHERE $1 = ANY(roles) RETURNING username', [change.name]);
      return [{ kind: 'role', key: change.name }, ...users.rows.map((user): Touched => ({ kind: 'user', key: user.username }))];
    }
    case 'putApiKeys':
      for (const key of change.keys) {
        await client.query(
          `INSERT INTO securenode_api_keys (id, name, secret_hash, creator, owner_id, roles, scope, created, expires, invalidated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash, creator = EXCLUDED.creator, owner_id = EXCLUDED.owner_id, roles = EXCLUDED.roles,
             scope = EXCLUDED.scope, created = EXCLUDED.created, expires = EXCLUDED.expires, invalidated = EXCLUDED.invalidated`,
          [key.id, key.name, key.secretHash, key.creator, key.ownerId ?? null, key.roles ? [...key.roles] : null, key.scope, date(key.created), date(key.expires), key.invalidated],
        );
      }
      return change.keys.map((key) => ({ kind: 'api_key', key: key.id }));
    case 'putServiceToken':
      await client.query(
        `INSERT INTO securenode_service_tokens (name, secret_hash, created) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, created = EXCLUDED.created`,
        [change.token.name, change.token.secretHash, date(change.token.created)],
      );
      return [{ kind: 'service_token', key: change.token.name }];
    case 'putSession': {
      const { session } = change;
      await client.query(
        `INSERT INTO securenode_sessions (id, secret_hash, username, user_id, credential, csrf, created, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, username = EXCLUDED.username, user_id = EXCLUDED.user_id, credential = EXCLUDED.credential,
           csrf = EXCLUDED.csrf, created = EXCLUDED.created, last_seen = EXCLUDED.last_seen`,
        [session.id, session.secretHash, session.username, session.userId, session.credential, session.csrf, date(session.created), date(session.lastSeen)],
      );
      return [{ kind: 'session', key: session.id }];
    }
    case 'deleteSessions': {
      const { rows } = await client.query<{ id: string }>('DELETE FROM securenode_sessions WHERE id = ANY($1::text[]) RETURNING id', [[...change.ids]]);
      return rows.map((row) => ({ kind: 'session', key: row.id }));
    }
    default:
      throw new SecurenodeError('ERR_USAGE', `unknown store change '${String((change as { op?: unknown }).op)}'`);
  }
}


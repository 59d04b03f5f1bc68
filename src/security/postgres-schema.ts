import type { ClientBase } from 'pg';
import { SecurenodeError } from '../errors.js';

/** One step of the security store's schema, applied once and recorded in securenode_schema_migrations. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

/**
 * Every schema version, oldest first; a new version is appended, never edited.
 * Tables are prefixed so that the store can share a database with others.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'the security store: users, roles, API keys, service tokens, and the cluster that owns it',
    statements: [
      `CREATE TABLE securenode_meta (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        cluster_uuid uuid NOT NULL,
        token_hash_key text NOT NULL,
        generation bigint NOT NULL DEFAULT 0
      )`,
      `CREATE TABLE securenode_users (
        username text PRIMARY KEY,
        id uuid NOT NULL UNIQUE,
        password_hash text NOT NULL,
        roles text[] NOT NULL,
        enabled boolean NOT NULL,
        full_name text,
        email text,
        metadata jsonb
      )`,
      `CREATE TABLE securenode_roles (
        name text PRIMARY KEY,
        id uuid NOT NULL UNIQUE,
        description text,
        endpoints jsonb NOT NULL,
        entities jsonb NOT NULL
      )`,
      `CREATE TABLE securenode_api_keys (
        id text PRIMARY KEY,
        name text NOT NULL,
        secret_hash text NOT NULL,
        creator text NOT NULL,
        scope text NOT NULL,
        created timestamptz NOT NULL,
        expires timestamptz,
        invalidated boolean NOT NULL
      )`,
      `CREATE TABLE securenode_service_tokens (
        name text PRIMARY KEY,
        secret_hash text NOT NULL,
        created timestamptz NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    name: "API keys belong to their owner's id and keep the roles they were made with",
    statements: ['ALTER TABLE securenode_api_keys ADD COLUMN owner_id uuid', 'ALTER TABLE securenode_api_keys ADD COLUMN roles text[]'],
  },
  {
    version: 3,
    name: 'a log of what each change touched, so that nodes read only what changed',
    statements: [
      `CREATE TABLE securenode_changes (
        generation bigint NOT NULL,
        kind text NOT NULL,
        key text NOT NULL,
        PRIMARY KEY (generation, kind, key)
      )`,
      // The log covers the generations after changes_since; a node that knows an older one reads the whole store.
      'ALTER TABLE securenode_meta ADD COLUMN changes_since bigint NOT NULL DEFAULT 0',
      'UPDATE securenode_meta SET changes_since = generation',
    ],
  },
  {
    version: 4,
    name: 'console sessions, known to every node',
    statements: [
      `CREATE TABLE securenode_sessions (
        id text PRIMARY KEY,
        secret_hash text NOT NULL,
        username text NOT NULL,
        user_id text NOT NULL,
        credential text NOT NULL,
        csrf text NOT NULL,
        created timestamptz NOT NULL,
        last_seen timestamptz NOT NULL
      )`,
    ],
  },
];

/** The schema version this securenode writes and reads. */
export const schemaVersion = migrations.at(-1)!.version;

/** What a migration run found and did. */
export interface MigrationResult {
  readonly before: number;
  readonly after: number;
  readonly applied: readonly Migration[];
}

// Any constant works; it only has to be the same for every securenode, so that two bootstraps take turns.
/** The advisory lock that orders schema changes and the superuser's seeding across every node and tool. */
export const migrationLock = 0x5ec0e_0de;

/**
 * Bring the schema to `schemaVersion`: in one transaction, under an advisory
 * lock, so that nodes starting together take turns and a failed step leaves
 * the database as it was. Running it again does nothing. A database that is
 * newer than this securenode is refused, and nothing is changed.
 */
export async function migrate(client: ClientBase, list: readonly Migration[] = migrations): Promise<MigrationResult> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [migrationLock]);
    await client.query(`CREATE TABLE IF NOT EXISTS securenode_schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const found = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM securenode_schema_migrations');
    const before = found.rows[0]?.version ?? 0;
    const known = list.at(-1)?.version ?? 0;
    if (before > known) {
      throw new SecurenodeError(
        'ERR_STORE_CONFIG',
        `the security database is at schema version ${before}, newer than this securenode knows (${known}); upgrade securenode on this node`,
      );
    }
    const applied = list.filter((migration) => migration.version > before);
    for (const migration of applied) {
      for (const statement of migration.statements) await client.query(statement);
      await client.query('INSERT INTO securenode_schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    }
    await client.query('COMMIT');
    return { before, after: Math.max(before, known), applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

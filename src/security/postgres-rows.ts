import pg from 'pg';
import type { ApiKeyScope, StoredApiKey, StoredServiceToken } from './api-keys.js';
import type { StoredSession } from './sessions.js';
import type { Written } from './change-reads.js';
import type { StoreData, StoredRole, StoredUser, StoreOp } from './store.js';
import { setEntry, type StoreRecord } from './store-ops.js';
import type { Kind, Touched } from './postgres-writes.js';

// The security store as rows, read back: the whole store, or what the change log
// says changed since a generation (the log written with each transaction).

/** A row's optional columns as absent keys, as the in-memory store has them (one loop: at a million rows, entries/filter/fromEntries took 2.4 s of a node's start). */
const present = <T extends object>(value: T): T => {
  const kept: Record<string, unknown> = {};
  for (const field in value) {
    const content = value[field];
    if (content !== null && content !== undefined) kept[field] = content;
  }
  return kept as T;
};

/** A timestamp column as milliseconds since the epoch (a float8, which pg and JSON both give as a number): the same whether the row comes as pg's types or as JSON. */
const ms = (column: string) => `round(extract(epoch FROM ${column}) * 1000)::float8`;

/** A text[] column as its JSON text (a string from pg's types and from JSON alike), for RoleLists. */
const list = (column: string) => `array_to_json(${column})::text`;

/**
 * Role lists as one read makes entries of them: each distinct list (its JSON text) parsed once and shared, frozen, by
 * every entry that holds it (entries are replaced whole, never edited). A store's users hold few distinct lists; at a
 * million users, an array and a string of their own each took 90 MB, and pg's array parser 0.8 s of a start. Past
 * `kept` distinct lists, the rest are parsed each.
 */
type RoleLists = (text: string | null) => readonly string[] | undefined;
function roleLists(kept = 10_000): RoleLists {
  const lists = new Map<string, readonly string[]>();
  return (text) => {
    if (text === null) return undefined;
    let found = lists.get(text);
    if (found === undefined) {
      found = Object.freeze(JSON.parse(text) as string[]);
      if (lists.size < kept) lists.set(text, found);
    }
    return found;
  };
}

/**
 * Each table as the change log names it: its key column (the first selected), what is selected, and the store's entry
 * for a row of those columns in that order (an array: the same from pg's types and from JSON's json_build_array).
 */
const tables = {
  user: {
    table: 'securenode_users',
    key: 'username',
    columns: `username, id, password_hash, ${list('roles')}, enabled, full_name, email, metadata`,
    // Built field by field: a million of these make a node's start.
    entry: ([username, id, passwordHash, roles, enabled, fullName, email, metadata]: Row, lists: RoleLists): StoredUser => {
      const user: Mutable<StoredUser> = { id: id as string, username: username as string, passwordHash: passwordHash as string, roles: lists(roles as string)!, enabled: enabled as boolean };
      if (fullName !== null) user.fullName = fullName as string;
      if (email !== null) user.email = email as string;
      if (metadata !== null) user.metadata = metadata as StoredUser['metadata'];
      return user;
    },
  },
  role: {
    table: 'securenode_roles',
    key: 'name',
    columns: 'name, id, description, endpoints, entities',
    entry: ([name, id, description, endpoints, entities]: Row): StoredRole => present({ id, name, description, endpoints, entities } as StoredRole),
  },
  api_key: {
    table: 'securenode_api_keys',
    key: 'id',
    columns: `id, name, secret_hash, creator, owner_id, ${list('roles')}, scope, ${ms('created')}, ${ms('expires')}, invalidated`,
    entry: ([id, name, secretHash, creator, ownerId, roles, scope, created, expires, invalidated]: Row, lists: RoleLists): StoredApiKey =>
      present({ id, name, secretHash, creator, ownerId, roles: lists(roles as string | null), scope: scope as ApiKeyScope, created, expires, invalidated } as StoredApiKey),
  },
  service_token: {
    table: 'securenode_service_tokens',
    key: 'name',
    columns: `name, secret_hash, ${ms('created')}`,
    entry: ([name, secretHash, created]: Row): StoredServiceToken => ({ name, secretHash, created }) as StoredServiceToken,
  },
  session: {
    table: 'securenode_sessions',
    key: 'id',
    columns: `id, secret_hash, username, user_id, credential, csrf, ${ms('created')}, ${ms('last_seen')}`,
    entry: ([id, secretHash, username, userId, credential, csrf, created, lastSeen]: Row): StoredSession => ({ id, secretHash, username, userId, credential, csrf, created, lastSeen }) as StoredSession,
  },
} as const;

/** A row as its columns' values, in the order selected. */
type Row = readonly unknown[];
type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Entry<K extends Kind> = ReturnType<(typeof tables)[K]['entry']>;

/**
 * Entries of one table by key as its rows come, written straight into a record (a Map turned into one cost a second at
 * a million users), with one read's role lists shared. Making an entry never throws (no check, no parse but
 * array_to_json's), so nothing throws into pg's socket handler when rows stream in.
 */
function entryTaker<K extends Kind>(kind: K): { readonly entries: Record<string, Entry<K>>; take(row: Row): void } {
  const entry = tables[kind].entry as (row: Row, lists: RoleLists) => Entry<K>;
  const lists = roleLists();
  const entries: Record<string, Entry<K>> = {};
  return { entries, take: (row) => setEntry(entries, row[0] as string, entry(row, lists)) };
}

/** Rows of one table (from JSON) as entries by key. */
function entriesOf<K extends Kind>(kind: K, rows: readonly Row[]): Record<string, Entry<K>> {
  const taker = entryTaker(kind);
  for (const row of rows) taker.take(row);
  return taker.entries;
}

/**
 * Every entry of one table by key, each made as its row arrives. Read whole, pg holds every row until the last has
 * come: at a million users, a million row objects lived through the young generation's collections beside the entries
 * made from them (a node read 900 MB; 450 MB this way).
 */
function readTable<K extends Kind>(client: pg.ClientBase, kind: K): Promise<Record<string, Entry<K>>> {
  const { table, columns } = tables[kind];
  const taker = entryTaker(kind);
  // Query's declared config leaves out rowMode, which it takes.
  const config: pg.QueryArrayConfig = { text: `SELECT ${columns} FROM ${table}`, rowMode: 'array' };
  return new Promise((resolve, reject) => {
    const query = client.query(new pg.Query(config));
    query.on('row', (row: Row) => taker.take(row));
    query.on('end', () => resolve(taker.entries));
    query.on('error', reject);
  });
}

/** Every row of the store, read on `client` in whatever transaction it is in. */
export async function readRows(client: pg.ClientBase): Promise<StoreData> {
  // One client runs one query at a time.
  const users = await readTable(client, 'user');
  const roles = await readTable(client, 'role');
  const apiKeys = await readTable(client, 'api_key');
  const serviceTokens = await readTable(client, 'service_token');
  const sessions = await readTable(client, 'session');
  return { version: 1, users, roles, apiKeys, serviceTokens, sessions };
}

/**
 * Record the rows each change touched under its generation and announce the last generation on `channel`, in one
 * statement (one round trip while the generation's lock is held, however many changes a transaction carries), and
 * now and then drop what no node needs any more. A change that touched nothing still has its generation in the log,
 * so that a reader can tell a writer that keeps no log.
 */
export async function logChanges(client: pg.ClientBase, changes: readonly { readonly generation: string; readonly touched: readonly Touched[] }[], channel: string): Promise<void> {
  const rows = changes.flatMap(({ generation, touched }) => (touched.length > 0 ? touched : [{ kind: 'none', key: '' }]).map((row) => [generation, row.kind, row.key] as const));
  const last = changes.at(-1)!.generation;
  await client.query(
    'WITH logged AS (INSERT INTO securenode_changes (generation, kind, key) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING) SELECT pg_notify($4, $5)',
    [rows.map((row) => row[0]), rows.map((row) => row[1]), rows.map((row) => row[2]), channel, last],
  );
  const horizon = BigInt(last) - changesKept;
  // Pruned when the changes pass a multiple of pruneEvery (one change at a time: when it lands on one).
  if (BigInt(last) / pruneEvery !== (BigInt(changes[0]!.generation) - 1n) / pruneEvery && horizon > 0n) {
    await client.query('DELETE FROM securenode_changes WHERE generation <= $1', [String(horizon)]);
    await client.query('UPDATE securenode_meta SET changes_since = GREATEST(changes_since, $1)', [String(horizon)]);
  }
}

/** How many generations of the change log are kept: a node further behind reads the whole store. */
const changesKept = 10_000n;
const pruneEvery = 1_000n;

/** The change log's rows after `known` up to `generation`; undefined when it cannot tell (pruned past `known`, or a generation without an entry). */
async function logSince(client: pg.ClientBase, known: string, generation: string, changesSince: string): Promise<{ kind: string; key: string }[] | undefined> {
  if (BigInt(known) < BigInt(changesSince)) return undefined;
  const { rows } = await client.query<{ kind: string; key: string; generation: string }>('SELECT generation, kind, key FROM securenode_changes WHERE generation > $1 AND generation <= $2', [known, generation]);
  return new Set(rows.map((row) => row.generation)).size === Number(BigInt(generation) - BigInt(known)) ? rows : undefined;
}

const records: Record<string, StoreRecord> = { user: 'users', role: 'roles', api_key: 'apiKeys', service_token: 'serviceTokens', session: 'sessions' };

/** The entries the changes after `known` up to `generation` wrote, from the log alone (no row read); undefined when the log cannot tell. */
export async function writtenSince(client: pg.ClientBase, known: string, generation: string, changesSince: string): Promise<Written[] | undefined> {
  const rows = await logSince(client, known, generation, changesSince);
  // A change that touched no row logs kind 'none'; a kind this version does not know counts as every record.
  return rows?.flatMap((row): Written[] => (row.kind === 'none' ? [] : Object.hasOwn(records, row.kind) ? [[records[row.kind]!, row.key]] : Object.values(records).map((record) => [record, '*'])));
}

const kinds = Object.keys(tables) as Kind[];

/**
 * What changed after `known` up to `at` (the generation now when not given), in one statement, so in one snapshot and
 * one round trip, with no transaction: the generation, how many generations the log holds in between, each kind's
 * touched keys in the order they were first touched, and each kind's touched rows as they are now (JSON). The keys
 * are an array so that each table is read by its primary key, whatever the planner thinks of the log's size.
 */
const changesStatement = `WITH meta AS (SELECT generation, changes_since FROM securenode_meta),
  upto AS (SELECT COALESCE($2::bigint, (SELECT generation FROM meta), 0) AS generation),
  log AS (
    SELECT generation, kind, key FROM securenode_changes
    WHERE generation > $1::bigint AND generation <= (SELECT generation FROM upto) AND $1::bigint >= COALESCE((SELECT changes_since FROM meta), 0)
  ),
  touched AS (SELECT kind, array_agg(key ORDER BY first, key) AS keys FROM (SELECT kind, key, min(generation) AS first FROM log GROUP BY kind, key) firsts GROUP BY kind)
SELECT (SELECT generation FROM upto)::text AS generation, (SELECT count(DISTINCT generation) FROM log)::text AS logged,
  (SELECT json_object_agg(kind, keys) FROM touched) AS touched,
  ${kinds.map((kind) => `(SELECT json_agg(json_build_array(${tables[kind].columns})) FROM ${tables[kind].table} WHERE ${tables[kind].key} = ANY((SELECT keys FROM touched WHERE kind = '${kind}')::text[])) AS ${kind}`).join(',\n  ')}`;

/** The whole store must be read: the log cannot tell what changed (pruned past the generation known, or a generation without an entry: a writer that keeps no log). */
const whole = Symbol('whole');

/**
 * What changed after `known`, as changes in the store's own terms: each touched row as it is now (a put), or gone (a
 * delete), deletes first; undefined when nothing did, `whole` when the log cannot tell.
 */
async function readChanges(client: pg.ClientBase, known: string, at: string | undefined): Promise<StoreRead | undefined | typeof whole> {
  type Read = { generation: string; logged: string; touched: Record<string, string[]> | null } & Record<Kind, Row[] | null>;
  const read = (await client.query<Read>({ name: 'securenode_changes_since', text: changesStatement, values: [known, at ?? null] })).rows[0]!;
  const generation = read.generation;
  if (generation === known) return undefined;
  if (BigInt(read.logged) !== BigInt(generation) - BigInt(known)) return whole;
  const deletes: StoreOp[] = [];
  const puts: StoreOp[] = [];
  /** Each touched row of a kind as it is now: a put, or a delete when it is gone. */
  const changes = <K extends Kind>(kind: K, put: (entry: Entry<K>) => StoreOp, remove: (key: string) => StoreOp | undefined): void => {
    const found = entriesOf(kind, read[kind] ?? []);
    for (const key of read.touched?.[kind] ?? []) {
      const entry = Object.hasOwn(found, key) ? found[key] : undefined;
      const change = entry ? put(entry) : remove(key);
      if (change) (entry ? puts : deletes).push(change);
    }
  };
  changes('user', (user) => ({ op: 'putUser', user }), (username) => ({ op: 'deleteUser', username }));
  changes('role', (role) => ({ op: 'putRole', role }), (name) => ({ op: 'deleteRole', name }));
  // Keys and tokens are never deleted (a key is invalidated): a missing one was never there.
  changes('api_key', (key) => ({ op: 'putApiKeys', keys: [key] }), () => undefined);
  changes('service_token', (token) => ({ op: 'putServiceToken', token }), () => undefined);
  changes('session', (session) => ({ op: 'putSession', session }), (id) => ({ op: 'deleteSessions', ids: [id] }));
  return { generation, changes: [...deletes, ...puts] };
}

/** What a node reads to catch up: the changes after `known` when the log can tell them, else the whole store. */
export type StoreRead = { readonly generation: string } & ({ readonly changes: StoreOp[] } | { readonly data: StoreData });

/**
 * Read what changed since `known` (up to `at` when given), or undefined when it is still at `known`: the changes in
 * one statement when the log can tell them, else the whole store in one transaction of its own (one consistent read).
 */
export function readStore(client: pg.ClientBase, known: string | undefined, at?: string): Promise<StoreRead | undefined> {
  return readSince(client, known, at, true);
}

/**
 * The same, in whatever transaction `client` is in (unless `transaction`, when the whole store's read is one of its
 * own): a writer reads what it missed under the generation's lock, up to `at`, the generation before its own (its
 * transaction already sees the one it bumped).
 */
export async function readSince(client: pg.ClientBase, known: string | undefined, at?: string, transaction = false): Promise<StoreRead | undefined> {
  if (known !== undefined) {
    const changes = await readChanges(client, known, at);
    if (changes !== whole) return changes;
  }
  if (transaction) await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const meta = (await client.query<{ generation: string }>('SELECT generation FROM securenode_meta')).rows[0];
    const generation = at ?? String(meta?.generation ?? '0');
    return generation === known ? undefined : { generation, data: await readRows(client) };
  } finally {
    if (transaction) await client.query('COMMIT').catch(() => {});
  }
}

import { Ajv } from 'ajv';
import type { StoreData } from './store.js';

const text = { type: 'string' } as const;
const actions = { type: 'array', items: { enum: ['read', 'create', 'update', 'delete', '*'] } } as const;
const record = (value: object) => ({ type: 'object', additionalProperties: value }) as const;

/** The shape of security.json: what every store kind holds in memory and serves from. */
const storeSchema = {
  type: 'object',
  required: ['version', 'users'],
  properties: {
    version: { const: 1 },
    // The number of the last change the file holds; the changes logged after it follow in security.log.
    seq: { type: 'integer', minimum: 0 },
    users: record({
      type: 'object',
      required: ['username', 'passwordHash', 'roles', 'enabled'],
      properties: { id: text, username: text, passwordHash: text, roles: { type: 'array', items: text }, enabled: { type: 'boolean' }, fullName: text, email: text, metadata: { type: 'object' } },
    }),
    roles: record({
      type: 'object',
      required: ['id', 'name', 'endpoints', 'entities'],
      properties: {
        id: text,
        name: text,
        description: text,
        endpoints: { type: 'array', items: { type: 'object', required: ['endpoint', 'actions', 'negative'], properties: { endpoint: text, actions, negative: { type: 'boolean' } } } },
        entities: { type: 'array', items: { type: 'object', required: ['entity_id', 'entity_type', 'actions', 'negative'], properties: { entity_id: text, entity_type: text, actions, negative: { type: 'boolean' } } } },
      },
    }),
    apiKeys: record({
      type: 'object',
      required: ['id', 'name', 'secretHash', 'creator', 'scope', 'created', 'invalidated'],
      properties: { id: text, name: text, secretHash: text, creator: text, ownerId: text, roles: { type: 'array', items: text }, scope: { enum: ['all', 'enroll_client', 'enroll_node', 'admin_token'] }, created: { type: 'number' }, expires: { type: 'number' }, invalidated: { type: 'boolean' } },
    }),
    serviceTokens: record({ type: 'object', required: ['name', 'secretHash', 'created'], properties: { name: text, secretHash: text, created: { type: 'number' } } }),
    sessions: record({
      type: 'object',
      required: ['id', 'secretHash', 'username', 'userId', 'credential', 'csrf', 'created', 'lastSeen'],
      properties: { id: text, secretHash: text, username: text, userId: text, credential: text, csrf: text, created: { type: 'number' }, lastSeen: { type: 'number' } },
    }),
  },
} as const;

/** Compiled on first use: a first start has no store file to check, and compiling costs tens of milliseconds. */
let compiled: ReturnType<Ajv['compile']> | undefined;
const validator = () => (compiled ??= new Ajv({ allErrors: false }).compile(storeSchema));

/**
 * What is wrong with a parsed store file, said as a place and a reason (never
 * a value), or undefined when it has the shape the node serves from. Entries
 * must also sit under their own name, so that a lookup finds what it names.
 */
export function storeShapeError(data: unknown): string | undefined {
  const validate = validator();
  if (!validate(data)) {
    const issue = validate.errors?.[0];
    return `${issue?.instancePath || '/'} ${issue?.message ?? 'has the wrong shape'}`;
  }
  const store = data as StoreData;
  const misplaced = (entries: Record<string, object>, field: string) => Object.entries(entries).find(([key, value]) => (value as Record<string, unknown>)[field] !== key)?.[0];
  const where =
    misplaced(store.users, 'username') ?? misplaced(store.roles ?? {}, 'name') ?? misplaced(store.apiKeys ?? {}, 'id') ?? misplaced(store.serviceTokens ?? {}, 'name') ?? misplaced(store.sessions ?? {}, 'id');
  return where === undefined ? undefined : `the entry under '${where.slice(0, 64)}' names another`;
}

// The shape of security.json as data, compiled ahead of time with the routes'
// schemas (src/node/route-schemas.ts, scripts/validators.mjs).

const text = { type: 'string' } as const;
const actions = { type: 'array', items: { enum: ['read', 'create', 'update', 'delete', '*'] } } as const;
const record = (value: object) => ({ type: 'object', additionalProperties: value }) as const;

/** The shape of security.json: what every store kind holds in memory and serves from. */
export const storeSchema = {
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

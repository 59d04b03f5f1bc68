import { minimumPasswordLength } from '../security/bootstrap.js';
import { entityTypes } from '../security/rbac-matcher.js';

// The JSON schemas of the node's request bodies, parameters and query strings,
// as data. `npm run build` compiles them ahead of time with Ajv's standalone
// code (scripts/validators.mjs), so that neither a request nor the node's
// start compiles one: a node's first compile (Ajv's code generator, cold) held
// its event loop 30-110 ms soon after its start.

/** A user or role name: printable, no '/', not starting with '_' (kept for internal principals). */
export const namePattern = '^[A-Za-z0-9@.+-][A-Za-z0-9_@.+-]{0,255}$';

const password = { type: 'string', minLength: minimumPasswordLength, maxLength: 1024 } as const;

/** The name of /_security/user/{name} and /_security/role/{name}. */
export const nameParams = { type: 'object', properties: { name: { type: 'string', pattern: namePattern } } } as const;

export const userBody = {
  type: 'object',
  additionalProperties: false,
  required: ['roles'],
  properties: {
    password,
    username: { type: 'string' },
    roles: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, maxItems: 100 },
    full_name: { type: ['string', 'null'], maxLength: 1024 },
    email: { type: ['string', 'null'], maxLength: 1024 },
    enabled: { type: 'boolean' },
    metadata: { type: 'object' },
  },
} as const;

export const passwordBody = { type: 'object', required: ['password'], additionalProperties: false, properties: { password } } as const;

const actions = { type: 'array', items: { type: 'string', enum: ['read', 'create', 'update', 'delete', '*'] }, maxItems: 5 } as const;
export const roleBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    description: { type: 'string', maxLength: 1024 },
    endpoints: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['endpoint', 'actions'],
        properties: { endpoint: { type: 'string', minLength: 1, maxLength: 1024 }, actions, negative: { type: 'boolean' } },
      },
    },
    entities: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['entity_id', 'entity_type', 'actions'],
        properties: { entity_id: { type: 'string', minLength: 1, maxLength: 256 }, entity_type: { type: 'string', enum: [...entityTypes] }, actions, negative: { type: 'boolean' } },
      },
    },
  },
} as const;

export const apiKeyBody = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 256 },
    expiration: { type: 'string', maxLength: 64 },
    // Only the enroll privileges narrow a key; any other shape is a 400, never a 500.
    role_descriptors: {
      type: 'object',
      maxProperties: 16,
      additionalProperties: { type: 'object', additionalProperties: false, properties: { cluster: { type: 'array', maxItems: 16, items: { type: 'string', maxLength: 64 } } } },
    },
  },
} as const;

/** /_security/user/{name}/_token[/{id}]. */
export const tokenParams = { type: 'object', properties: { name: { type: 'string', pattern: namePattern }, id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } } as const;

export const tokenBody = { type: ['object', 'null'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 256 }, expiration: { type: 'string', maxLength: 64 } } } as const;

export const enrollmentTokenBody = { type: 'object', required: ['scope'], additionalProperties: false, properties: { scope: { enum: ['client', 'node'] }, ttl: { type: 'string', maxLength: 16 } } } as const;

export const auditQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { user: { type: 'string', maxLength: 1024 }, event: { type: 'string', pattern: '^[a-z_]{1,64}$' }, size: { type: 'string', pattern: '^[0-9]{1,4}$' } },
} as const;

/** Every schema above by name: what the build compiles, and what a route's schema is looked up by. */
export const routeSchemas = { nameParams, userBody, passwordBody, roleBody, apiKeyBody, tokenParams, tokenBody, enrollmentTokenBody, auditQuery } as const;

/**
 * Ajv's options for every schema, at build time and for a schema compiled at
 * run time: bodies are checked as they are (no extra field silently dropped,
 * no type silently coerced); otherwise fastify's own.
 */
export const validatorOptions = { coerceTypes: false, removeAdditional: false, useDefaults: true, addUsedSchema: false, allErrors: false } as const;

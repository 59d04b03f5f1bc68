import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { builtInRoles, entityTypes, isBuiltInRole, normalizeEndpoint, type EndpointPermission, type EntityPermission, type RoleDefinition } from '../security/rbac-matcher.js';
import type { StoredRole } from '../security/store.js';
import { auditContext, entityAllowed, invalidBody } from './authorization.js';
import { namePattern, type SecurityRouteContext } from './user-routes.js';

const actions = { type: 'array', items: { type: 'string', enum: ['read', 'create', 'update', 'delete', '*'] }, maxItems: 5 } as const;
const roleBody = {
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

interface RoleBody {
  description?: string;
  endpoints?: { endpoint: string; actions: EndpointPermission['actions']; negative?: boolean }[];
  entities?: { entity_id: string; entity_type: EntityPermission['entity_type']; actions: EntityPermission['actions']; negative?: boolean }[];
}

type NameParams = { Params: { name: string }; Querystring: { force?: string } };

function publicRole(role: RoleDefinition & { id?: string }, builtIn: boolean) {
  return { id: role.id ?? null, description: role.description ?? '', endpoints: role.endpoints, entities: role.entities, metadata: builtIn ? { _reserved: true } : {} };
}

const reserved = (name: string) => ({ error: `role [${name}] is built in and cannot be changed or deleted` });

/**
 * The role API (SPEC 7): GET, PUT, DELETE /_security/role/{name}, with endpoint
 * and entity permissions. The built-in roles are listed but never changed; a
 * role that users hold is deleted only with ?force, which takes it from them in
 * the same write.
 */
export function registerRoleRoutes(app: FastifyInstance, context: SecurityRouteContext): void {
  const { store, audit, logger } = context;
  const all = (): [string, ReturnType<typeof publicRole>][] => [
    ...Object.entries(builtInRoles).map(([name, role]) => [name, publicRole(role, true)] as [string, ReturnType<typeof publicRole>]),
    ...store.listRoles().map((role) => [role.name, publicRole(role, false)] as [string, ReturnType<typeof publicRole>]),
  ];
  const readable = (roles: readonly string[], name: string): boolean => isBuiltInRole(name) || context.authorizer.entityAllowed(roles, store.getRole(name)!.id, 'read');
  const changed = (request: Parameters<typeof auditContext>[0], event: string, name: string, fields: Record<string, unknown> = {}): void => {
    audit.record(event, auditContext(request), { target: name, ...fields });
    logger.info({ event, role: name, by: request.principal!.user.username }, `${event.replace(/_/g, ' ')}: ${name}`);
  };

  app.get('/_security/role', async (request) => Object.fromEntries(all().filter(([name]) => readable(request.principal!.user.roles, name))));

  app.get<NameParams>('/_security/role/:name', async (request, reply) => {
    const { name } = request.params;
    if (isBuiltInRole(name)) return { [name]: publicRole(builtInRoles[name], true) };
    const role = store.getRole(name);
    if (!role) return reply.code(404).send({ error: `role [${name}] not found` });
    if (!entityAllowed(request, reply, context, { id: role.id, type: 'role' }, 'read')) return reply;
    return { [name]: publicRole(role, false) };
  });

  app.put<NameParams & { Body: RoleBody }>(
    '/_security/role/:name',
    { schema: { params: { type: 'object', properties: { name: { type: 'string', pattern: namePattern } } }, body: roleBody }, attachValidation: true },
    async (request, reply) => {
      if (request.validationError) return invalidBody(reply, request.validationError);
      const { name } = request.params;
      if (isBuiltInRole(name)) return reply.code(400).send(reserved(name));
      const existing = store.getRole(name);
      if (existing && !entityAllowed(request, reply, context, { id: existing.id, type: 'role' }, 'update')) return reply;
      const role: StoredRole = {
        id: existing?.id ?? randomUUID(),
        name,
        ...(request.body.description === undefined ? {} : { description: request.body.description }),
        endpoints: (request.body.endpoints ?? []).map((row) => ({ endpoint: normalizeEndpoint(row.endpoint), actions: row.actions, negative: row.negative ?? false })),
        entities: (request.body.entities ?? []).map((row) => ({ entity_id: row.entity_id, entity_type: row.entity_id === '*' ? 'wildcard' : row.entity_type, actions: row.actions, negative: row.negative ?? false })),
      };
      await store.putRole(role);
      changed(request, existing ? 'role_updated' : 'role_created', name, { endpoints: role.endpoints.length, entities: role.entities.length });
      return { role: { created: !existing } };
    },
  );

  app.delete<NameParams>('/_security/role/:name', async (request, reply) => {
    const { name } = request.params;
    if (isBuiltInRole(name)) return reply.code(400).send(reserved(name));
    const role = store.getRole(name);
    if (!role) return reply.code(404).send({ found: false });
    if (!entityAllowed(request, reply, context, { id: role.id, type: 'role' }, 'delete')) return reply;
    const holders = store.listUsers().filter((user) => user.roles.includes(name)).map((user) => user.username);
    const force = request.query.force !== undefined && request.query.force !== 'false';
    if (holders.length > 0 && !force) {
      return reply.code(409).send({ error: `role [${name}] is held by [${holders.join(', ')}]; delete it with ?force to take it from them too` });
    }
    await store.deleteRole(name);
    changed(request, 'role_deleted', name, { taken_from: holders });
    return { found: true };
  });
}

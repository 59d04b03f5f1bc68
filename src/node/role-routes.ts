import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Rights } from '../security/authorizer.js';
import { builtInRoles, entityTypes, isBuiltInRole, normalizeEndpoint, type Action, type EndpointPermission, type EntityPermission, type RoleDefinition } from '../security/rbac-matcher.js';
import type { StoreData, StoredRole } from '../security/store.js';
import { auditContext, invalidBody, rightsOf } from './authorization.js';
import { Refusal, requireEntity, requireNotAbove, requireWithin } from './refusal.js';
import { nameParams, roleBody } from './route-schemas.js';
import type { SecurityRouteContext } from './user-routes.js';

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
  const { store, audit, logger, authorizer } = context;
  const all = (): [string, ReturnType<typeof publicRole>][] => [
    ...Object.entries(builtInRoles).map(([name, role]) => [name, publicRole(role, true)] as [string, ReturnType<typeof publicRole>]),
    ...store.listRoles().map((role) => [role.name, publicRole(role, false)] as [string, ReturnType<typeof publicRole>]),
  ];
  const readable = (rights: Rights, name: string): boolean => isBuiltInRole(name) || authorizer.entityAllowed(rights, store.getRole(name)!.id, 'read');
  const changed = (request: Parameters<typeof auditContext>[0], event: string, name: string, fields: Record<string, unknown> = {}): void => {
    audit.record(event, auditContext(request), { target: name, ...fields });
    logger.info({ event, role: name, by: request.principal!.user.username }, `${event.replace(/_/g, ' ')}: ${name}`);
  };
  /** The stored role of the path at the change, after the entity check. */
  const target = (request: FastifyRequest<NameParams>, data: StoreData, action: Action, missing: Record<string, unknown>): StoredRole | undefined => {
    const roles = data.roles ?? {};
    const role = Object.hasOwn(roles, request.params.name) ? roles[request.params.name]! : undefined;
    if (!role) {
      if (action === 'update') return undefined;
      throw new Refusal(404, missing);
    }
    requireEntity(request, authorizer, { id: role.id, type: 'role' }, action);
    return role;
  };
  /**
   * A change to a role changes every user who holds it: none of them may gain
   * anything the caller does not hold (a deleted role may have held negatives).
   */
  const holdersWithin = (request: FastifyRequest<NameParams>, data: StoreData, replacement: RoleDefinition | undefined): string[] => {
    const { name } = request.params;
    const holders = Object.values(data.users).filter((user) => user.roles.includes(name));
    for (const user of holders) {
      const others = authorizer.definitions(user.roles.filter((role) => role !== name));
      requireWithin(request, authorizer, `user [${user.username}]`, replacement ? [...others, replacement] : others, authorizer.definitions(user.roles));
    }
    return holders.map((user) => user.username);
  };

  app.get('/_security/role', async (request) => Object.fromEntries(all().filter(([name]) => readable(rightsOf(request.principal!), name))));

  app.get<NameParams>('/_security/role/:name', async (request) => {
    const { name } = request.params;
    if (isBuiltInRole(name)) return { [name]: publicRole(builtInRoles[name], true) };
    const role = target(request, store.snapshot(), 'read', { error: `role [${name}] not found` })!;
    return { [name]: publicRole(role, false) };
  });

  // PUT or POST, as Elasticsearch's REST spec lists them.
  app.route<NameParams & { Body: RoleBody }>({
    method: ['PUT', 'POST'],
    url: '/_security/role/:name',
    schema: { params: nameParams, body: roleBody },
    attachValidation: true,
    handler: async (request, reply) => {
      if (request.validationError) return invalidBody(reply, request.validationError);
      const { name } = request.params;
      if (isBuiltInRole(name)) return reply.code(400).send(reserved(name));
      const definition: RoleDefinition = {
        ...(request.body.description === undefined ? {} : { description: request.body.description }),
        endpoints: (request.body.endpoints ?? []).map((row) => ({ endpoint: normalizeEndpoint(row.endpoint), actions: row.actions, negative: row.negative ?? false })),
        entities: (request.body.entities ?? []).map((row) => ({ entity_id: row.entity_id, entity_type: row.entity_id === '*' ? 'wildcard' : row.entity_type, actions: row.actions, negative: row.negative ?? false })),
      };
      const role = await store.mutate((data) => {
        const existing = target(request, data, 'update', {});
        if (existing) requireNotAbove(request, authorizer, `role [${name}]`, [existing]);
        requireWithin(request, authorizer, `role [${name}]`, [definition]);
        holdersWithin(request, data, definition);
        const stored: StoredRole = { id: existing?.id ?? randomUUID(), name, ...definition };
        return { ops: [{ op: 'putRole', role: stored }], result: { created: !existing, stored } };
      });
      changed(request, role.created ? 'role_created' : 'role_updated', name, { endpoints: role.stored.endpoints.length, entities: role.stored.entities.length });
      return { role: { created: role.created } };
    },
  });

  app.delete<NameParams>('/_security/role/:name', async (request, reply) => {
    const { name } = request.params;
    if (isBuiltInRole(name)) return reply.code(400).send(reserved(name));
    const force = request.query.force !== undefined && request.query.force !== 'false';
    const holders = await store.mutate((data) => {
      target(request, data, 'delete', { found: false });
      const holders = holdersWithin(request, data, undefined);
      if (holders.length > 0 && !force) throw new Refusal(409, { error: `role [${name}] is held by [${holders.join(', ')}]; delete it with ?force to take it from them too` });
      return { ops: [{ op: 'deleteRole', name }], result: holders };
    });
    changed(request, 'role_deleted', name, { taken_from: holders });
    return { found: true };
  });
}

import type { FastifyInstance } from 'fastify';
import { hashSecret, newCredential, type ApiKeyScope, type StoredApiKey } from '../security/api-keys.js';
import { parseDuration } from '../settings/coerce.js';
import { auditContext, forbidden, invalidBody, isSuperuser, rightsOf } from './authorization.js';
import { requireEntity } from './refusal.js';
import { operatorName } from './token-authenticator.js';
import { apiKeyBody } from './route-schemas.js';
import type { SecurityRouteContext } from './user-routes.js';

interface KeyFilters {
  id?: string;
  name?: string;
  username?: string;
  owner?: string;
  realm_name?: string;
}

interface CreateBody {
  name: string;
  expiration?: string;
  role_descriptors?: Record<string, { cluster?: string[] }>;
}

/** The scope that role descriptors ask for; until RBAC arrives only the enroll privileges narrow a key. */
function scopeOf(descriptors: CreateBody['role_descriptors']): ApiKeyScope | string {
  const privileges = Object.values(descriptors ?? {}).flatMap((descriptor) => descriptor.cluster ?? []);
  if (privileges.length === 0) return 'all';
  const unique = [...new Set(privileges)];
  if (unique.length === 1 && (unique[0] === 'enroll_client' || unique[0] === 'enroll_node')) return unique[0];
  return `invalid field 'role_descriptors': only one of the cluster privileges enroll_client and enroll_node is supported`;
}

/**
 * POST, GET and DELETE /_security/api_key, behind endpoint and entity RBAC. A
 * key has its creator's roles, never more; a key that enrolls (and so hands out
 * the CA key) is made by a superuser only.
 */
export function registerApiKeyRoutes(app: FastifyInstance, context: SecurityRouteContext & { readonly hashKey: Buffer }): void {
  const { store, hashKey, logger, audit } = context;
  // POST or PUT, as Elasticsearch's REST spec lists them.
  app.route<{ Body: CreateBody }>({
    method: ['POST', 'PUT'],
    url: '/_security/api_key',
      schema: { body: apiKeyBody },
      attachValidation: true,
    handler: async (request, reply) => {
      const principal = request.principal!;
      if (request.validationError) return invalidBody(reply, request.validationError);
      const scope = scopeOf(request.body.role_descriptors);
      if (scope !== 'all' && scope !== 'enroll_client' && scope !== 'enroll_node') return reply.code(400).send({ error: scope });
      if (scope !== 'all' && !isSuperuser(principal)) return forbidden(reply, principal, 'create');
      const lifetime = request.body.expiration === undefined ? undefined : parseDuration(request.body.expiration);
      if (request.body.expiration !== undefined && !lifetime) return reply.code(400).send({ error: "invalid field 'expiration': a duration such as 30m, 1h or 7d" });
      const { id, secret } = newCredential();
      const now = Date.now();
      // The key belongs to its owner's id and keeps the roles it was made with; at each use it is also limited by what the owner holds then.
      const key: StoredApiKey = {
        id, name: request.body.name, secretHash: hashSecret(hashKey, secret), creator: principal.user.username, ...(principal.user.id ? { ownerId: principal.user.id } : {}), roles: [...principal.user.roles],
        scope, created: now, ...(lifetime ? { expires: now + lifetime } : {}), invalidated: false,
      };
      await store.putApiKeys([key]);
      logger.info({ event: 'api_key_created', id, name: key.name, scope, by: principal.user.username }, 'API key created');
      audit.record('api_key_created', auditContext(request), { id, name: key.name, scope });
      return { id, name: key.name, api_key: secret, encoded: Buffer.from(`${id}:${secret}`).toString('base64'), ...(key.expires ? { expiration: key.expires } : {}) };
    },
  });

  // Elasticsearch's filters: id, name, username, owner (the caller's own keys), realm_name.
  app.get<{ Querystring: KeyFilters }>('/_security/api_key', async (request) => {
    const principal = request.principal!;
    const rights = rightsOf(principal);
    const { id, name, username, owner, realm_name: realm } = request.query;
    // Admin tokens are kept as keys, but listed and revoked under their user (/_security/user/{name}/_token).
    const wanted = (key: StoredApiKey): boolean =>
      key.scope !== 'admin_token' &&
      (id === undefined || key.id === id) &&
      (name === undefined || key.name === name) &&
      (username === undefined || key.creator === username) &&
      (owner !== 'true' || key.creator === principal.user.username) &&
      (realm === undefined || realm === (key.creator === operatorName ? '_operator' : 'default_native'));
    return {
      api_keys: store.listApiKeys().filter((key) => wanted(key) && context.authorizer.entityAllowed(rights, key.id, 'read')).map((key) => ({ id: key.id, name: key.name, creation: key.created, expiration: key.expires ?? null, invalidated: key.invalidated, username: key.creator, scope: key.scope })),
    };
  });

  app.delete<{ Body: { ids?: string[]; name?: string } }>('/_security/api_key', async (request, reply) => {
    const principal = request.principal!;
    const { ids, name } = request.body ?? {};
    if (!Array.isArray(ids) && typeof name !== 'string') return reply.code(400).send({ error: "invalid body: give 'ids' (a list) or 'name'" });
    const { matching, fresh } = await store.mutate((data) => {
      const matching = Object.values(data.apiKeys ?? {}).filter((key) => key.scope !== 'admin_token' && ((Array.isArray(ids) && ids.includes(key.id)) || key.name === name));
      // All or nothing: one key the caller may not delete refuses the request.
      for (const key of matching) requireEntity(request, context.authorizer, { id: key.id, type: 'api_key' }, 'delete');
      const fresh = matching.filter((key) => !key.invalidated);
      return { ops: fresh.length === 0 ? [] : [{ op: 'putApiKeys', keys: fresh.map((key) => ({ ...key, invalidated: true })) }], result: { matching, fresh } };
    });
    logger.info({ event: 'api_keys_invalidated', ids: fresh.map((key) => key.id), by: principal.user.username }, 'API keys invalidated');
    audit.record('api_keys_invalidated', auditContext(request), { ids: fresh.map((key) => key.id) });
    return { invalidated_api_keys: fresh.map((key) => key.id), previously_invalidated_api_keys: matching.filter((key) => key.invalidated).map((key) => key.id), error_count: 0 };
  });
}

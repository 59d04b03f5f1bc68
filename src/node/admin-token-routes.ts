import type { FastifyInstance, FastifyRequest } from 'fastify';
import { encodeAdminToken, hashSecret, newCredential, type StoredApiKey } from '../security/api-keys.js';
import { ownedBy, type StoreData, type StoredUser } from '../security/store.js';
import { parseDuration } from '../settings/coerce.js';
import { auditContext, invalidBody } from './authorization.js';
import { Refusal, requireUser } from './refusal.js';
import { tokenBody, tokenParams as params } from './route-schemas.js';
import type { SecurityRouteContext } from './user-routes.js';

interface TokenParams {
  Params: { name: string; id?: string };
}

/** What the API says of a token: never its secret, which is shown once, when it is made. */
function publicToken(key: StoredApiKey) {
  return { id: key.id, name: key.name, creation: key.created, expiration: key.expires ?? null, invalidated: key.invalidated };
}

/** The admin tokens of a user, as the store holds them. */
function tokensOf(data: StoreData, user: StoredUser): StoredApiKey[] {
  return Object.values(data.apiKeys ?? {}).filter((key) => key.scope === 'admin_token' && ownedBy(key, user));
}

/**
 * Personal admin tokens (Kong's RBAC user tokens, many per user): made with
 * POST /_security/user/{name}/_token and shown once, listed and revoked under
 * the same path, and sent in the header that security.rbac.token_header names.
 * A token acts as its owner with the owner's roles as they are at each use.
 * Anyone signed in with their password may manage their own tokens; managing
 * another user's needs the endpoint permission, the entity permission, and
 * everything that user holds (a token for them is their rights).
 */
export function registerAdminTokenRoutes(app: FastifyInstance, context: SecurityRouteContext & { readonly hashKey: Buffer; readonly header: string }): void {
  const { store, hashKey, header, audit, logger, authorizer } = context;
  /** The owner of the path's tokens: oneself (with a password, not a token), or a user the caller may manage. */
  const owner = (request: FastifyRequest<TokenParams>, data: StoreData, action: 'read' | 'update'): StoredUser => {
    const principal = request.principal!;
    const { name } = request.params;
    if (name === principal.user.username && principal.type === 'realm') {
      const self = Object.hasOwn(data.users, name) ? data.users[name] : undefined;
      if (self) return self;
    }
    return requireUser(request, authorizer, data, name, action);
  };
  const changed = (request: FastifyRequest<TokenParams>, event: string, fields: Record<string, unknown>): void => {
    audit.record(event, auditContext(request), { target: request.params.name, ...fields });
    logger.info({ event, user: request.params.name, by: request.principal!.user.username, ...fields }, `${event.replace(/_/g, ' ')}: ${request.params.name}`);
  };

  app.route<TokenParams & { Body: { name?: string; expiration?: string } | undefined }>({
    method: ['POST', 'PUT'],
    url: '/_security/user/:name/_token',
    schema: {
      params,
      body: tokenBody,
    },
    attachValidation: true,
    handler: async (request, reply) => {
      if (request.validationError) return invalidBody(reply, request.validationError);
      const body = request.body ?? {};
      const lifetime = body.expiration === undefined ? undefined : parseDuration(body.expiration);
      if (body.expiration !== undefined && !lifetime) return reply.code(400).send({ error: "invalid field 'expiration': a duration such as 30m, 1h or 7d" });
      const { id, secret } = newCredential();
      const now = Date.now();
      const key = await store.mutate((data) => {
        const user = owner(request, data, 'update');
        const made: StoredApiKey = {
          id, name: body.name ?? `token-${new Date(now).toISOString()}`, secretHash: hashSecret(hashKey, secret), creator: user.username, ...(user.id ? { ownerId: user.id } : {}),
          scope: 'admin_token', created: now, ...(lifetime ? { expires: now + lifetime } : {}), invalidated: false,
        };
        return { ops: [{ op: 'putApiKeys', keys: [made] }], result: made };
      });
      changed(request, 'admin_token_created', { id, name: key.name });
      return { ...publicToken(key), token: encodeAdminToken(id, secret), header };
    },
  });

  app.get<TokenParams>('/_security/user/:name/_token', { schema: { params } }, async (request) => {
    const data = store.snapshot();
    return { tokens: tokensOf(data, owner(request, data, 'read')).map(publicToken) };
  });

  app.delete<TokenParams>('/_security/user/:name/_token/:id', { schema: { params } }, async (request) => {
    const { id } = request.params;
    const revoked = await store.mutate((data) => {
      const key = tokensOf(data, owner(request, data, 'update')).find((token) => token.id === id);
      if (!key) throw new Refusal(404, { error: `admin token [${id}] of user [${request.params.name}] not found` });
      return { ops: key.invalidated ? [] : [{ op: 'putApiKeys', keys: [{ ...key, invalidated: true }] }], result: !key.invalidated };
    });
    if (revoked) changed(request, 'admin_token_revoked', { id });
    return { found: true, invalidated: revoked };
  });
}

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuditLog } from '../logging/audit.js';
import type { Authorizer } from '../security/authorizer.js';
import { endSessions } from '../security/sessions.js';
import { withId, type SecurityStore, type StoreData, type StoredUser } from '../security/store.js';
import { hashPassword } from '../security/password.js';
import type { Action } from '../security/rbac-matcher.js';
import { superuserName } from '../security/superuser.js';
import { auditContext, invalidBody, rightsOf } from './authorization.js';
import { maxMetadataBytes } from './body-limits.js';
import { Refusal, requireUser, requireWithin } from './refusal.js';
import { nameParams, passwordBody, userBody } from './route-schemas.js';

/** What the user and role routes share. */
export interface SecurityRouteContext {
  readonly store: SecurityStore;
  readonly authorizer: Authorizer;
  readonly audit: AuditLog;
  readonly logger: Logger;
}

interface UserBody {
  username?: string;
  password?: string;
  roles: string[];
  full_name?: string | null;
  email?: string | null;
  enabled?: boolean;
  metadata?: Record<string, unknown>;
}

type NameParams = { Params: { name: string } };

/** A user as the API shows it: never its hash. */
export function publicUser(user: StoredUser) {
  return { username: user.username, id: user.id ?? null, roles: user.roles, full_name: user.fullName ?? null, email: user.email ?? null, metadata: user.metadata ?? {}, enabled: user.enabled };
}

/**
 * The user API (SPEC 7): GET, PUT, DELETE /_security/user/{name}, the password,
 * _enable and _disable. Bodies are checked by schemas before anything is
 * written; each change is one atomic write of the store and takes effect at
 * once, cached credentials included.
 */
export function registerUserRoutes(app: FastifyInstance, context: SecurityRouteContext): void {
  const { store, audit, logger, authorizer } = context;
  const self = (request: FastifyRequest<NameParams>): boolean => request.params.name === request.principal!.user.username;
  /**
   * The user of the path as the store holds it at the change, after the entity
   * check and the rule that nobody manages a user who holds more than they do.
   */
  const target = (request: FastifyRequest<NameParams>, data: StoreData, action: Action, missing?: Record<string, unknown>): StoredUser =>
    requireUser(request, authorizer, data, request.params.name, action, missing);
  const changed = (request: FastifyRequest<NameParams>, event: string, fields: Record<string, unknown> = {}): void => {
    audit.record(event, auditContext(request), { target: request.params.name, ...fields });
    logger.info({ event, user: request.params.name, by: request.principal!.user.username, ...fields }, `${event.replace(/_/g, ' ')}: ${request.params.name}`);
  };

  app.get('/_security/user', async (request) =>
    Object.fromEntries(
      store
        .listUsers()
        .filter((user) => authorizer.entityAllowed(rightsOf(request.principal!), user.id ?? user.username, 'read'))
        .map((user) => [user.username, publicUser(user)]),
    ),
  );

  // One user, or a comma list of them (Elasticsearch's form): the ones found and readable; 404 when none is.
  app.get<NameParams>('/_security/user/:name', async (request, reply) => {
    const names = request.params.name.split(',');
    if (names.length === 1) {
      const user = target(request, store.snapshot(), 'read');
      return { [user.username]: publicUser(user) };
    }
    const found = names.map((name) => store.getUser(name)).filter((user): user is StoredUser => user !== undefined);
    const readable = found.filter((user) => authorizer.entityAllowed(rightsOf(request.principal!), user.id ?? user.username, 'read'));
    if (readable.length === 0) return reply.code(404).send({});
    return Object.fromEntries(readable.map((user) => [user.username, publicUser(user)]));
  });

  // PUT or POST, as Elasticsearch's REST spec lists them (each its own RBAC action).
  app.route<NameParams & { Body: UserBody }>({ method: ['PUT', 'POST'], url: '/_security/user/:name', schema: { params: nameParams, body: userBody }, attachValidation: true, handler: async (request, reply) => {
    if (request.validationError) return invalidBody(reply, request.validationError);
    const { name } = request.params;
    const body = request.body;
    if (body.username !== undefined && body.username !== name) return reply.code(400).send({ error: `invalid field 'username': it must be the user of the path [${name}], or left out` });
    if (body.metadata && Buffer.byteLength(JSON.stringify(body.metadata)) > maxMetadataBytes) return reply.code(400).send({ error: `invalid field 'metadata': larger than ${maxMetadataBytes / 1024} KiB as JSON` });
    const unknown = body.roles.filter((role) => !authorizer.role(role));
    if (unknown.length > 0) return reply.code(400).send({ error: `invalid field 'roles': unknown role [${unknown.join(', ')}]; create it with PUT /_security/role/{name}` });
    if (!store.getUser(name) && body.password === undefined) return reply.code(400).send({ error: "invalid field 'password': a new user needs a password" });
    // The slow hash runs before the change, so that the store's queue never waits on it.
    const passwordHash = body.password === undefined ? undefined : await hashPassword(body.password);
    const roles = [...new Set(body.roles)];
    const created = await store.mutate((data) => {
      const existing = Object.hasOwn(data.users, name) ? target(request, data, 'update') : undefined;
      if (!existing && passwordHash === undefined) throw new Refusal(400, { error: "invalid field 'password': a new user needs a password" });
      const gone = roles.filter((role) => !authorizer.role(role));
      if (gone.length > 0) throw new Refusal(400, { error: `invalid field 'roles': unknown role [${gone.join(', ')}]; create it with PUT /_security/role/{name}` });
      if (existing && body.enabled === false && self(request)) throw new Refusal(400, { error: 'you cannot disable the user you are authenticated as' });
      requireWithin(request, authorizer, `user [${name}]`, authorizer.definitions(roles), existing ? authorizer.definitions(existing.roles) : undefined);
      const user: StoredUser = {
        username: name,
        passwordHash: passwordHash ?? existing!.passwordHash,
        roles,
        enabled: body.enabled ?? existing?.enabled ?? true,
        ...(body.full_name ? { fullName: body.full_name } : {}),
        ...(body.email ? { email: body.email } : {}),
        ...(body.metadata ? { metadata: body.metadata } : {}),
      };
      // A new password or a disabled user ends the user's console sessions in the same change.
      const ends = existing && (passwordHash !== undefined || !user.enabled) ? endSessions(data, name) : [];
      return { ops: [{ op: 'putUser', user: withId(user, data) }, ...ends], result: !existing };
    });
    changed(request, created ? 'user_created' : 'user_updated', { roles, password_changed: body.password !== undefined });
    return { created };
  } });

  app.delete<NameParams>('/_security/user/:name', async (request, reply) => {
    const { name } = request.params;
    if (name === superuserName) return reply.code(400).send({ error: `user [${name}] is reserved and cannot be deleted; disable it, or change its password` });
    if (self(request)) return reply.code(400).send({ error: 'you cannot delete the user you are authenticated as' });
    await store.mutate((data) => {
      target(request, data, 'delete', { found: false });
      return { ops: [{ op: 'deleteUser', username: name }, ...endSessions(data, name)], result: undefined };
    });
    changed(request, 'user_deleted');
    return { found: true };
  });

  for (const [suffix, enabled] of [['_enable', true], ['_disable', false]] as const) {
    app.route<NameParams>({ method: ['PUT', 'POST'], url: `/_security/user/:name/${suffix}`, handler: async (request, reply) => {
      if (!enabled && self(request)) return reply.code(400).send({ error: 'you cannot disable the user you are authenticated as' });
      await store.mutate((data) => ({ ops: [{ op: 'putUser', user: { ...target(request, data, 'update'), enabled } }, ...(enabled ? [] : endSessions(data, request.params.name))], result: undefined }));
      changed(request, enabled ? 'user_enabled' : 'user_disabled');
      return {};
    } });
  }

  app.route<NameParams & { Body: { password: string } }>({
    method: ['POST', 'PUT'],
    url: '/_security/user/:name/_password',
    schema: { body: passwordBody },
    attachValidation: true,
    handler: async (request, reply) => {
      if (request.validationError) return invalidBody(reply, request.validationError);
      // Anyone may change their own password with their own password; everyone else is managed.
      const own = self(request) && request.principal!.type === 'realm';
      const { name } = request.params;
      if (!own) target(request, store.snapshot(), 'update');
      const passwordHash = await hashPassword(request.body.password);
      await store.mutate((data) => {
        const user = own ? (Object.hasOwn(data.users, name) ? data.users[name] : undefined) : target(request, data, 'update');
        if (!user) throw new Refusal(404, { error: `user [${name}] not found` });
        return { ops: [{ op: 'putUser', user: { ...user, passwordHash } }, ...endSessions(data, name)], result: undefined };
      });
      changed(request, 'password_changed', { via: request.principal!.type });
      return {};
    },
  });
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuditLog } from '../logging/audit.js';
import type { Authorizer } from '../security/authorizer.js';
import { minimumPasswordLength } from '../security/bootstrap.js';
import type { SecurityStore, StoredUser } from '../security/store.js';
import { hashPassword } from '../security/password.js';
import type { Action } from '../security/rbac-matcher.js';
import { superuserName } from '../security/superuser.js';
import { auditContext, entityAllowed, invalidBody } from './authorization.js';

/** What the user and role routes share. */
export interface SecurityRouteContext {
  readonly store: SecurityStore;
  readonly authorizer: Authorizer;
  readonly audit: AuditLog;
  readonly logger: Logger;
}

/** A user or role name: printable, no '/', not starting with '_' (kept for internal principals). */
export const namePattern = '^[A-Za-z0-9@.+-][A-Za-z0-9_@.+-]{0,255}$';

const password = { type: 'string', minLength: minimumPasswordLength, maxLength: 1024 } as const;
const userBody = {
  type: 'object',
  additionalProperties: false,
  required: ['roles'],
  properties: {
    password,
    roles: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, maxItems: 100 },
    full_name: { type: ['string', 'null'], maxLength: 1024 },
    email: { type: ['string', 'null'], maxLength: 1024 },
    enabled: { type: 'boolean' },
    metadata: { type: 'object' },
  },
} as const;

interface UserBody {
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
  const { store, audit, logger } = context;
  const paramsSchema = { type: 'object', properties: { name: { type: 'string', pattern: namePattern } } } as const;
  /** The user, after the entity check; undefined when a reply (404 or 403) was sent. */
  const target = (request: FastifyRequest<NameParams>, reply: FastifyReply, action: Action): StoredUser | undefined => {
    const user = store.getUser(request.params.name);
    if (!user) {
      void reply.code(404).send({ error: `user [${request.params.name}] not found` });
      return undefined;
    }
    return entityAllowed(request, reply, context, { id: user.id ?? user.username, type: 'user' }, action) ? user : undefined;
  };
  const changed = (request: FastifyRequest<NameParams>, event: string, fields: Record<string, unknown> = {}): void => {
    audit.record(event, auditContext(request), { target: request.params.name, ...fields });
    logger.info({ event, user: request.params.name, by: request.principal!.user.username, ...fields }, `${event.replace(/_/g, ' ')}: ${request.params.name}`);
  };

  app.get('/_security/user', async (request) =>
    Object.fromEntries(
      store
        .listUsers()
        .filter((user) => context.authorizer.entityAllowed(request.principal!.user.roles, user.id ?? user.username, 'read'))
        .map((user) => [user.username, publicUser(user)]),
    ),
  );

  app.get<NameParams>('/_security/user/:name', async (request, reply) => {
    const user = target(request, reply, 'read');
    return user ? { [user.username]: publicUser(user) } : reply;
  });

  app.put<NameParams & { Body: UserBody }>('/_security/user/:name', { schema: { params: paramsSchema, body: userBody }, attachValidation: true }, async (request, reply) => {
    if (request.validationError) return invalidBody(reply, request.validationError);
    const { name } = request.params;
    const body = request.body;
    const existing = store.getUser(name);
    if (existing && !entityAllowed(request, reply, context, { id: existing.id ?? name, type: 'user' }, 'update')) return reply;
    if (!existing && body.password === undefined) return reply.code(400).send({ error: "invalid field 'password': a new user needs a password" });
    const unknown = body.roles.filter((role) => !context.authorizer.role(role));
    if (unknown.length > 0) return reply.code(400).send({ error: `invalid field 'roles': unknown role [${unknown.join(', ')}]; create it with PUT /_security/role/{name}` });
    if (existing && body.enabled === false && name === request.principal!.user.username) return reply.code(400).send({ error: 'you cannot disable the user you are authenticated as' });
    const user: StoredUser = {
      ...(existing?.id ? { id: existing.id } : {}),
      username: name,
      passwordHash: body.password === undefined ? existing!.passwordHash : await hashPassword(body.password),
      roles: [...new Set(body.roles)],
      enabled: body.enabled ?? existing?.enabled ?? true,
      ...(body.full_name ? { fullName: body.full_name } : {}),
      ...(body.email ? { email: body.email } : {}),
      ...(body.metadata ? { metadata: body.metadata } : {}),
    };
    await store.putUser(user);
    changed(request, existing ? 'user_updated' : 'user_created', { roles: user.roles, password_changed: body.password !== undefined });
    return { created: !existing };
  });

  app.delete<NameParams>('/_security/user/:name', async (request, reply) => {
    const { name } = request.params;
    if (name === superuserName) return reply.code(400).send({ error: `user [${name}] is reserved and cannot be deleted; disable it, or change its password` });
    if (name === request.principal!.user.username) return reply.code(400).send({ error: 'you cannot delete the user you are authenticated as' });
    if (!store.getUser(name)) return reply.code(404).send({ found: false });
    if (!target(request, reply, 'delete')) return reply;
    await store.deleteUser(name);
    changed(request, 'user_deleted');
    return { found: true };
  });

  for (const [suffix, enabled] of [['_enable', true], ['_disable', false]] as const) {
    app.put<NameParams>(`/_security/user/:name/${suffix}`, async (request, reply) => {
      if (!enabled && request.params.name === request.principal!.user.username) return reply.code(400).send({ error: 'you cannot disable the user you are authenticated as' });
      const user = target(request, reply, 'update');
      if (!user) return reply;
      await store.putUser({ ...user, enabled });
      changed(request, enabled ? 'user_enabled' : 'user_disabled');
      return {};
    });
  }

  app.post<NameParams & { Body: { password: string } }>(
    '/_security/user/:name/_password',
    { schema: { body: { type: 'object', required: ['password'], additionalProperties: false, properties: { password } } }, attachValidation: true },
    async (request, reply) => {
      if (request.validationError) return invalidBody(reply, request.validationError);
      const self = request.params.name === request.principal!.user.username && request.principal!.type === 'realm';
      const user = self ? store.getUser(request.params.name) : target(request, reply, 'update');
      if (!user) return reply;
      await store.putUser({ ...user, passwordHash: await hashPassword(request.body.password) });
      changed(request, 'password_changed', { via: request.principal!.type });
      return {};
    },
  );
}

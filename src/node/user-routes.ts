import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { minimumPasswordLength } from '../security/bootstrap.js';
import type { FileStore } from '../security/file-store.js';
import { hashPassword } from '../security/password.js';

/**
 * POST /_security/user/{name}/_password: a superuser (or the local operator)
 * changes anyone's password, a user their own. The new hash takes effect at once:
 * cached credentials are checked against the stored hash. Full RBAC arrives with
 * the users-and-roles work; until then only these two rules apply.
 */
export function registerUserRoutes(app: FastifyInstance, store: FileStore, logger: Logger): void {
  app.post<{ Params: { name: string }; Body: { password: string } }>(
    '/_security/user/:name/_password',
    {
      schema: {
        body: {
          type: 'object',
          required: ['password'],
          additionalProperties: false,
          properties: { password: { type: 'string', minLength: minimumPasswordLength, maxLength: 1024 } },
        },
      },
      // A 400 names the field that is wrong, and never echoes a value.
      attachValidation: true,
    },
    async (request, reply) => {
      const principal = request.principal!;
      if (request.validationError) {
        const field = request.validationError.validation[0]?.instancePath.replace(/^\//, '') || request.validationError.validation[0]?.params?.missingProperty || 'body';
        return reply.code(400).send({ error: `invalid field '${field}': the password must be a string of ${minimumPasswordLength} to 1024 characters` });
      }
      const { name } = request.params;
      const allowed = principal.user.roles.includes('superuser') || principal.user.username === name;
      if (!allowed) return reply.code(403).send({ error: `${principal.user.username}, you do not have permissions to create this resource` });
      const user = store.getUser(name);
      if (!user) return reply.code(404).send({ error: `user [${name}] not found` });
      await store.putUser({ ...user, passwordHash: await hashPassword(request.body.password) });
      logger.info({ event: 'password_changed', user: name, by: principal.user.username, via: principal.type }, `password of ${name} changed`);
      return {};
    },
  );
}

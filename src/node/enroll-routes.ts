import { X509Certificate } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { encodeServiceToken, hashSecret, newCredential } from '../security/api-keys.js';
import type { FileStore } from '../security/file-store.js';

/**
 * GET /_security/enroll/client (SPEC 6): for an API key with the enroll_client
 * privilege (or a superuser), a new service token of service/client and the HTTP
 * CA as base64 DER. 403 with the reason when enrollment is disabled.
 */
export function registerEnrollRoutes(app: FastifyInstance, options: { store: FileStore; hashKey: Buffer; enabled: boolean; httpCaPem: string; logger: Logger }): void {
  const httpCa = new X509Certificate(options.httpCaPem).raw.toString('base64');
  app.get('/_security/enroll/client', async (request, reply) => {
    if (!options.enabled) {
      return reply.code(403).send({ error: 'Enrollment mode is not enabled. Set [security.enrollment.enabled] to true, in order to use this API.' });
    }
    const principal = request.principal!;
    if (principal.apiKey?.scope !== 'enroll_client' && !principal.user.roles.includes('superuser')) {
      return reply.code(403).send({ error: `${principal.user.username}, you do not have permissions to read this resource` });
    }
    const { secret } = newCredential();
    const name = `enroll-process-token-${Date.now()}`;
    await options.store.putServiceToken({ name, secretHash: hashSecret(options.hashKey, secret), created: Date.now() });
    options.logger.info({ event: 'enrollment_token_used', scope: 'client', api_key: principal.apiKey?.id, service_token: name }, 'a client enrolled');
    return { token: { name, value: encodeServiceToken(name, secret) }, http_ca: httpCa };
  });
}

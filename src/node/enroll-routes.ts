import { X509Certificate } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { TlsFiles } from '../autoconfig/tls-files.js';
import { nodeEnrollmentBody, type NodeEnrollmentBody } from '../enrollment/node-enrollment.js';
import { encodeServiceToken, hashSecret, newCredential, type ApiKeyScope } from '../security/api-keys.js';
import type { SecurityStore } from '../security/store.js';
import type { AuditLog } from '../logging/audit.js';
import { auditContext, forbidden, isSuperuser } from './authorization.js';
import { Refusal } from './refusal.js';

/** What the enroll endpoints need. */
export interface EnrollRouteOptions {
  readonly store: SecurityStore;
  readonly hashKey: Buffer;
  readonly enabled: boolean;
  readonly tls: TlsFiles;
  readonly cluster: { readonly name: string; readonly uuid: string };
  /** Transport addresses of the cluster's nodes, known once the transport listens. */
  readonly nodesAddresses: () => readonly string[];
  readonly logger: Logger;
  readonly audit: AuditLog;
}

/**
 * GET /_security/enroll/client and /_security/enroll/node (SPEC 6), for an API
 * key with the matching enroll privilege, or a superuser. 403 with the reason
 * when enrollment is disabled.
 */
export function registerEnrollRoutes(app: FastifyInstance, options: EnrollRouteOptions): void {
  const httpCa = new X509Certificate(options.tls.httpCaPem).raw.toString('base64');
  /** Whether the caller may enroll `scope`; otherwise the 403 is sent. */
  const allowed = (request: FastifyRequest, reply: FastifyReply, scope: ApiKeyScope): boolean => {
    if (!options.enabled) {
      void reply.code(403).send({ error: 'Enrollment mode is not enabled. Set [security.enrollment.enabled] to true, in order to use this API.' });
      return false;
    }
    const principal = request.principal!;
    if (principal.apiKey?.scope !== scope && !isSuperuser(principal)) {
      void forbidden(reply, principal, 'read');
      return false;
    }
    return true;
  };

  // Kibana enrolls through its own path (Elasticsearch's REST spec); securenode answers it as a client's.
  app.get('/_security/enroll/kibana', (request, reply) => enrollClient(request, reply));
  app.get('/_security/enroll/client', (request, reply) => enrollClient(request, reply));
  const enrollClient = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!allowed(request, reply, 'enroll_client')) return reply;
    const { secret } = newCredential();
    const name = `enroll-process-token-${Date.now()}`;
    await options.store.putServiceToken({ name, secretHash: hashSecret(options.hashKey, secret), created: Date.now() });
    options.audit.record('enrollment_token_used', auditContext(request), { scope: 'client', service_token: name });
    options.logger.info({ event: 'enrollment_token_used', scope: 'client', api_key: request.principal!.apiKey?.id, service_token: name }, 'a client enrolled');
    return { token: { name, value: encodeServiceToken(name, secret) }, http_ca: httpCa };
  };

  // The keys are read from the .p12 files on the first request only: most nodes never hand them out.
  let nodeBody: Omit<NodeEnrollmentBody, 'nodes_addresses'> | undefined;
  app.get('/_security/enroll/node', async (request, reply) => {
    if (!allowed(request, reply, 'enroll_node')) return reply;
    // A node enrollment key hands out the CA key: it works once (as CockroachDB's join tokens do). Taken in the store's queue, so two uses at once cannot both win.
    const key = request.principal!.apiKey;
    if (key?.scope === 'enroll_node') {
      await options.store.mutate((data) => {
        const stored = data.apiKeys?.[key.id];
        if (!stored || stored.invalidated) throw new Refusal(401, { error: 'Invalid credentials' });
        return { ops: [{ op: 'putApiKeys', keys: [{ ...stored, invalidated: true }] }], result: undefined };
      });
    }
    nodeBody ??= nodeEnrollmentBody(options.tls, options.cluster);
    options.audit.record('enrollment_token_used', auditContext(request), { scope: 'node' });
    options.logger.info({ event: 'enrollment_token_used', scope: 'node', api_key: request.principal!.apiKey?.id }, 'a node enrolled: it received the HTTP CA and the transport certificate');
    return { ...nodeBody, nodes_addresses: options.nodesAddresses() };
  });
}

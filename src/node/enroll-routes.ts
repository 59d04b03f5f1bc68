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
import { createEnrollmentToken } from '../enrollment/create-token.js';
import { parseDuration } from '../settings/coerce.js';
import { enrollmentTokenBody } from './route-schemas.js';

/** What the enroll endpoints need. */
export interface EnrollRouteOptions {
  readonly store: SecurityStore;
  readonly hashKey: Buffer;
  readonly enabled: boolean;
  readonly tls: TlsFiles;
  readonly cluster: { readonly name: string; readonly uuid: string };
  /** Transport addresses of the cluster's nodes, known once the transport listens. */
  readonly nodesAddresses: () => readonly string[];
  /** This node's HTTP addresses that an enrollment token names, known once it listens. */
  readonly httpAddresses: () => readonly string[];
  readonly version: string;
  readonly logger: Logger;
  readonly audit: AuditLog;
}

/**
 * GET /_security/enroll/client and /_security/enroll/node (SPEC 6), for an API
 * key with the matching enroll privilege, or a superuser. 403 with the reason
 * when enrollment is disabled.
 */
export function registerEnrollRoutes(app: FastifyInstance, options: EnrollRouteOptions): void {
  // Read at each answer: a CA rotation changes them while the node runs.
  const base64 = (pem: string) => new X509Certificate(pem).raw.toString('base64');
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
    const next = options.tls.httpCaNextPem;
    // During a CA rotation the client gets the new CA too, so that it keeps trusting the node once the rotation finishes.
    return { token: { name, value: encodeServiceToken(name, secret) }, http_ca: base64(options.tls.httpCaPem), ...(next ? { http_ca_next: base64(next) } : {}) };
  };

  // The CAs a client must trust now (the one the node serves under, then a rotation's new one): what `securenode enroll --refresh` fetches. Certificates only, for any caller.
  app.get('/_security/http_ca', async () => ({ http_ca: [options.tls.httpCaPem, ...(options.tls.httpCaNextPem ? [options.tls.httpCaNextPem] : [])] }));

  // The keys are read from the .p12 files on the first request only: most nodes never hand them out.
  let nodeBody: Omit<NodeEnrollmentBody, 'nodes_addresses'> | undefined;
  let nodeBodyCa: string | undefined;
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
    if (nodeBodyCa !== options.tls.httpCaPem) [nodeBody, nodeBodyCa] = [nodeEnrollmentBody(options.tls, options.cluster), options.tls.httpCaPem];
    options.audit.record('enrollment_token_used', auditContext(request), { scope: 'node' });
    options.logger.info({ event: 'enrollment_token_used', scope: 'node', api_key: request.principal!.apiKey?.id }, 'a node enrolled: it received the HTTP CA and the transport certificate');
    return { ...nodeBody, nodes_addresses: options.nodesAddresses() };
  });

  // An enrollment token from the console (or any superuser), as the first start's banner makes: an API key that only enrolls, for 30 minutes unless asked otherwise (24 hours at most).
  app.post<{ Body: { scope: 'client' | 'node'; ttl?: string } }>(
    '/_security/enrollment_token',
    { schema: { body: enrollmentTokenBody }, attachValidation: true },
    async (request, reply) => {
      if (request.validationError) return reply.code(400).send({ error: "invalid body: give scope (client or node) and, if you like, ttl (for example 30m)" });
      if (!allowed(request, reply, request.body.scope === 'node' ? 'enroll_node' : 'enroll_client') || !isSuperuser(request.principal!)) {
        if (!reply.sent) void forbidden(reply, request.principal!, 'create');
        return reply;
      }
      const ttlMs = request.body.ttl === undefined ? 30 * 60_000 : parseDuration(request.body.ttl);
      if (ttlMs === undefined || ttlMs < 60_000 || ttlMs > 86_400_000) return reply.code(400).send({ error: "invalid field 'ttl': a duration from 1m to 24h, for example 30m" });
      const token = await createEnrollmentToken(request.body.scope, {
        store: options.store, hashKey: options.hashKey, addresses: options.httpAddresses(), fingerprint: options.tls.httpCaFingerprint, version: options.version, ttlMs, creator: request.principal!.user.username,
      });
      if (!token) return reply.code(409).send({ error: 'this node publishes no address that a token could name; set network.publish_host or http.publish_host' });
      options.audit.record('enrollment_token_created', auditContext(request), { scope: request.body.scope, ttl_ms: ttlMs });
      return { token, expires: Date.now() + ttlMs };
    },
  );
}

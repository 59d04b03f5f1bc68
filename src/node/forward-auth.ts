import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../logging/audit.js';
import type { Authorizer } from '../security/authorizer.js';
import { auditContext, canonicalPath, rightsOf } from './authorization.js';

/** A header's one value: a repeated header decides nothing. */
const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? undefined : value);

/** Visible ASCII passes as it is; anything else (and `%`) is percent-encoded as UTF-8 (a lone surrogate as U+FFFD), so that no name can break a header. */
export const headerSafe = (value: string): string => wellFormed(value).replace(/[^\x21-\x24\x26-\x7e]/gu, (character: string) => encodeURIComponent(character));

/** A string with each lone surrogate replaced by U+FFFD (String.prototype.toWellFormed, which this TypeScript's lib does not declare). */
export const wellFormed = (value: string): string => value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

/**
 * GET /_auth/forward: forward authentication for the proxies people already
 * run. The request authenticates as every request does (Basic, API key,
 * service token, admin token, console session; 401 with the challenges), and
 * the original request it names (X-Original-URI and -Method, as nginx's
 * auth_request sends; X-Forwarded-Uri and -Method, as Traefik's forwardAuth and
 * Caddy's forward_auth do) is decided by the same RBAC endpoint rows as the
 * node's own API, on its decoded path, in every enforce mode but off (as the
 * gateway's routes are): 200 with X-Securenode-User and
 * X-Securenode-Roles, or 403.
 */
export function registerForwardAuth(app: FastifyInstance, options: { authorizer: Authorizer; audit: AuditLog }): void {
  app.get('/_auth/forward', async (request, reply) => {
    const principal = request.principal!;
    const uri = single(request.headers['x-original-uri']) ?? single(request.headers['x-forwarded-uri']);
    const method = (single(request.headers['x-original-method']) ?? single(request.headers['x-forwarded-method']) ?? 'GET').toUpperCase();
    if (uri === undefined || !uri.startsWith('/') || !/^[A-Z]{1,16}$/.test(method)) {
      return reply.code(400).send({ error: 'name the request to decide on: X-Original-URI and X-Original-Method (nginx auth_request), or X-Forwarded-Uri and X-Forwarded-Method (Traefik, Caddy), one of each' });
    }
    // Decided on the path as the upstream will route it: one that decodes to no single path (an encoded '/', a dot segment) is refused.
    const path = canonicalPath(uri);
    if (path === undefined || !options.authorizer.serviceAllowed(rightsOf(principal), method, path)) {
      options.audit.record('access_denied', auditContext(request), { method, path: path ?? uri.split('?')[0], via: 'forward_auth' });
      return reply.code(403).send({ error: `${principal.user.username} may not ${method} ${path ?? 'that path'}` });
    }
    return reply.headers({ 'x-securenode-user': headerSafe(principal.user.username), 'x-securenode-roles': principal.user.roles.map(headerSafe).join(',') }).send({ allowed: true });
  });
}

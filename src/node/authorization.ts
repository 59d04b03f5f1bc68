import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { AuditContext, AuditLog } from '../logging/audit.js';
import type { Authorizer, Rights } from '../security/authorizer.js';
import { actionFor, type Action } from '../security/rbac-matcher.js';
import type { Principal } from './authenticator.js';
import type { EarlyAnswers } from './early-answers.js';

/** 403 in Kong's words (SPEC 7). */
export function forbidden(reply: FastifyReply, principal: Principal, action: Action): FastifyReply {
  return reply.code(403).send({ error: `${principal.user.username}, you do not have permissions to ${action} this resource` });
}

/** What makes a path need the segment by segment work: an escape, a dot, a NUL. */
const plainPath = /[%.\u0000]/;

/** canonicalPath's last question and answer. */
let lastUrl: string | undefined;
let lastPath: string | undefined;

/**
 * A request path as the router dispatches it: each segment percent-decoded.
 * Undefined when no single path is meant: a malformed escape, a segment that
 * decodes to '/' or NUL, or a '.' or '..' segment (nginx refuses those too).
 */
export function canonicalPath(url: string): string | undefined {
  // The last URL asked about: authentication, authorization and a keep-alive client's next request ask about the same one.
  if (url === lastUrl) return lastPath;
  const query = url.indexOf('?');
  const raw = query === -1 ? url : url.slice(0, query);
  // Nothing to decode and no dot segment: the path is its own canonical form (most requests; every one pays this).
  const path = plainPath.test(raw) ? decodeSegments(raw) : raw;
  lastUrl = url;
  lastPath = path;
  return path;
}

/** canonicalPath's work on a path without its query, segment by segment, whatever the path holds. */
export function decodeSegments(raw: string): string | undefined {
  const segments: string[] = [];
  for (const segment of raw.split('/')) {
    let decoded: string;
    try {
      decoded = segment.includes('%') ? decodeURIComponent(segment) : segment;
    } catch {
      return undefined;
    }
    if (decoded.includes('/') || decoded.includes('\u0000') || decoded === '.' || decoded === '..') return undefined;
    segments.push(decoded);
  }
  return segments.join('/');
}

/** The decoded path of a request, without its query: what authorization, the audit log and the logs see. */
export function requestPath(request: FastifyRequest): string {
  return canonicalPath(request.url) ?? request.url.split('?')[0]!;
}

/** What a principal holds, for the authorizer. */
export function rightsOf(principal: Principal): Rights {
  return principal.limitedBy === undefined ? { roles: principal.user.roles } : { roles: principal.user.roles, limitedBy: principal.limitedBy };
}

/** Whether a principal holds the superuser role (an API key's owner too). */
export function isSuperuser(principal: Principal): boolean {
  return principal.user.roles.includes('superuser') && (principal.limitedBy === undefined || principal.limitedBy.includes('superuser'));
}

/** Managing security (users, roles, keys, tokens, enrollment) needs an endpoint permission in every enforce mode. */
export function managesSecurity(pattern: string): boolean {
  return pattern.startsWith('/_security/') && pattern !== '/_security/_authenticate';
}

/** The audit fields of a request: who, from where, which request. */
export function auditContext(request: FastifyRequest): AuditContext {
  return { ...(request.principal ? { user: request.principal.user.username } : {}), source: request.ip, requestId: request.id };
}

/** The routes anyone signed in with their password may use on themselves: their own password, their own admin tokens. */
const ownRoutes = new Set(['/_security/user/:name/_password', '/_security/user/:name/_token', '/_security/user/:name/_token/:id']);

/** Routes that decide for themselves whom they answer: forward auth decides on the request it names, not on its own path. */
const selfDecidingRoutes = new Set(['/_security/_authenticate', '/_security/session', '/_auth/forward', '/_security/http_ca']);

/**
 * What anyone authenticated may do to themselves on a route: see who they are, change their own password, manage
 * their own admin tokens (with a password, never with a token). Decided once per route pattern; the rest per request.
 */
function selfServiceOn(route: string): (params: unknown, principal: Principal) => boolean {
  if (selfDecidingRoutes.has(route)) return () => true;
  if (!ownRoutes.has(route)) return () => false;
  return (params, principal) => principal.type === 'realm' && (params as { name?: string }).name === principal.user.username;
}

/** A literal route's (no parameters) request has none. */
const noParams = {};

/**
 * Endpoint RBAC on every routed request (security.rbac.enforce on or both), after
 * authentication and before the body is parsed: Kong's matcher over the caller's roles, with the route
 * pattern as a candidate. Enrollment keys are already held to their endpoint.
 */
export function registerAuthorization(app: FastifyInstance, authorizer: Authorizer, audit: AuditLog, early?: EarlyAnswers): void {
  // One hook per route, which knows its pattern: request.routeOptions builds a new object at every access.
  app.addHook('onRoute', (route) => {
    const pattern = route.url ?? route.path;
    const methods = [route.method].flat();
    for (const method of methods) authorizer.addRoute({ method, pattern });
    // A gateway route is a service behind the node: decided as Authorizer.serviceAllowed says.
    const gateway = (route.config as { gateway?: string } | undefined)?.gateway !== undefined;
    const allowed = gateway ? authorizer.serviceDecider() : authorizer.routeDecider(pattern, managesSecurity(pattern));
    const selfService = selfServiceOn(pattern);
    const permits = (principal: Principal, method: string, path: string, params: unknown): boolean =>
      (principal.apiKey !== undefined && principal.apiKey.scope !== 'all') || selfService(params, principal) || allowed(principal.user.roles, principal.limitedBy, method, path);
    const check: onRequestHookHandler = (request, reply, done) => {
      const principal = request.principal;
      if (!principal) return done();
      const path = requestPath(request);
      if (permits(principal, request.method, path, request.params)) return done();
      audit.record('access_denied', auditContext(request), { method: request.method, path });
      void forbidden(reply, principal, actionFor(request.method));
    };
    // A route that answers every caller it admits alike may answer before routing, decided by this very route's permits.
    const answer = route.config?.early;
    if (early && answer && methods.includes('GET')) early.add(pattern, answer, (principal, method, path) => permits(principal, method, path, noParams));
    // A route's own onRequest hooks run after the node's (authentication), before the body is read.
    route.onRequest = [check, ...(route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest])];
  });
}

/** A 400 that names the field that is wrong, from a fastify schema failure, never echoing a value. */
export function invalidBody(reply: FastifyReply, error: NonNullable<FastifyRequest['validationError']>): FastifyReply {
  const issue = error.validation[0];
  const params = (issue?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
  const path = issue?.instancePath.replace(/^\//, '').replace(/\//g, '.') ?? '';
  const field = params.missingProperty ? [path, params.missingProperty].filter(Boolean).join('.') : params.additionalProperty ? [path, params.additionalProperty].filter(Boolean).join('.') : path || 'body';
  return reply.code(400).send({ error: `invalid field '${field}': ${issue?.message ?? 'malformed'}` });
}

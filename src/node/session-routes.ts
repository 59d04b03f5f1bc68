import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuditLog } from '../logging/audit.js';
import { csrfHeader, openSession, sessionCookie, sessionExpired, sessionFor, touchEvery, type SessionLimits } from '../security/sessions.js';
import type { SecurityStore } from '../security/store.js';
import type { Principal } from './authenticator.js';
import type { Authorizer } from '../security/authorizer.js';
import { auditContext, isSuperuser, managesSecurity, rightsOf } from './authorization.js';

/** The console's page and assets, served from the package's console/ folder. */
const consoleFiles: Record<string, { type: string; file: string }> = {
  '/_console/': { type: 'text/html; charset=utf-8', file: 'index.html' },
  '/_console/console.js': { type: 'text/javascript; charset=utf-8', file: 'console.js' },
  '/_console/console.css': { type: 'text/css; charset=utf-8', file: 'console.css' },
};

/** Whether a path is the console's (its page, its assets, or the bare prefix that redirects). */
export const consolePath = (path: string): boolean => path.startsWith('/_console') && (path === '/_console' || Object.hasOwn(consoleFiles, path));

/** Scripts and styles from this origin only, nothing inline or evaluated, never framed. */
const consoleHeaders = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The principal of a request that carries the session cookie: 'none' when no
 * such cookie, 'refused' for a session that does not open (unknown, wrong
 * secret, expired, or its user changed), 'csrf' for a state change without the
 * session's token. A session is marked used again once a quarter of its idle
 * timeout has passed (a minute at most: each mark is a change to the store), so
 * that the idle timeout counts from its last use.
 */
export function sessionPrincipal(request: FastifyRequest, store: SecurityStore, hashKey: Buffer, limits: SessionLimits): Principal | 'none' | 'refused' | 'csrf' {
  const value = parseCookies(request.headers.cookie ?? '')[sessionCookie];
  if (value === undefined) return 'none';
  const now = Date.now();
  const found = sessionFor(store, hashKey, value, limits, now);
  if (!found) return 'refused';
  const { session, user } = found;
  if (!safeMethods.has(request.method)) {
    const sent = Buffer.from(String(request.headers[csrfHeader] ?? ''));
    const expected = Buffer.from(session.csrf);
    if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) return 'csrf';
  }
  if (now - session.lastSeen >= touchEvery(limits)) {
    // Marked used where changes are serialized: a logout meanwhile is not undone.
    void store.mutate((data) => (data.sessions && Object.hasOwn(data.sessions, session.id) ? { ops: [{ op: 'putSession', session: { ...data.sessions[session.id]!, lastSeen: now } }], result: undefined } : { ops: [], result: undefined })).catch(() => {});
  }
  return { user, type: 'session', sessionId: session.id };
}

/** What the console offers, each as the request it makes: the session's answer says which the user's roles allow. */
const consoleActions: Record<string, readonly [method: string, path: string, pattern: string]> = {
  'users.read': ['GET', '/_security/user', '/_security/user'],
  'users.write': ['PUT', '/_security/user/_', '/_security/user/:name'],
  'users.delete': ['DELETE', '/_security/user/_', '/_security/user/:name'],
  'roles.read': ['GET', '/_security/role', '/_security/role'],
  'roles.write': ['PUT', '/_security/role/_', '/_security/role/:name'],
  'roles.delete': ['DELETE', '/_security/role/_', '/_security/role/:name'],
  'api_keys.read': ['GET', '/_security/api_key', '/_security/api_key'],
  'api_keys.write': ['POST', '/_security/api_key', '/_security/api_key'],
  'api_keys.delete': ['DELETE', '/_security/api_key', '/_security/api_key'],
  'cluster.read': ['GET', '/_cluster/health', '/_cluster/health'],
  'enrollment.write': ['POST', '/_security/enrollment_token', '/_security/enrollment_token'],
  'audit.read': ['GET', '/_security/audit', '/_security/audit'],
};

/** Which console actions a principal's roles allow: what is not allowed is not offered (the API refuses it anyway). */
function allowedActions(authorizer: Authorizer, principal: Principal): Record<string, boolean> {
  const rights = rightsOf(principal);
  // Enrollment tokens hand out the cluster's trust: superusers only, whatever the endpoint rows say.
  return Object.fromEntries(
    Object.entries(consoleActions).map(([name, [method, path, pattern]]) => [name, authorizer.endpointAllowed(rights, method, path, pattern, managesSecurity(pattern)) && (name !== 'enrollment.write' || isSuperuser(principal))]),
  );
}

/**
 * POST /_security/session opens a console session for a password login (the
 * request's Basic credentials, checked, throttled and audited as every login
 * is) and sets the cookie; GET tells the session's user and CSRF token; DELETE
 * ends it on every node. The cookie is Secure, HttpOnly, SameSite=Strict.
 */
export function registerSessionRoutes(app: FastifyInstance, options: { store: SecurityStore; hashKey: Buffer; limits: SessionLimits; audit: AuditLog; authorizer: Authorizer }): void {
  const { store, hashKey, limits, audit, authorizer } = options;
  const cookie = (value: string, maxAge: number) => serializeCookie(sessionCookie, value, { secure: true, httpOnly: true, sameSite: 'strict', path: '/', maxAge });
  app.post('/_security/session', async (request, reply) => {
    const principal = request.principal!;
    if (principal.type !== 'realm') return reply.code(400).send({ error: 'a console session is opened with a username and password (Basic credentials)' });
    const now = Date.now();
    const { session, cookie: value } = openSession(principal.user, hashKey, now);
    // Sessions past their time, or whose user is gone, are cleared as another opens.
    await store.mutate((data) => {
      const stale = Object.values(data.sessions ?? {}).filter((old) => sessionExpired(old, limits, now) || !Object.hasOwn(data.users, old.username)).map((old) => old.id);
      return { ops: [...(stale.length > 0 ? [{ op: 'deleteSessions' as const, ids: stale }] : []), { op: 'putSession', session }], result: undefined };
    });
    audit.record('session_opened', auditContext(request), { session: session.id });
    void reply.header('set-cookie', cookie(value, Math.floor(limits.absoluteMs / 1000)));
    return { username: principal.user.username, roles: principal.user.roles, csrf_token: session.csrf, allowed: allowedActions(authorizer, principal) };
  });
  app.get('/_security/session', async (request, reply) => {
    const principal = request.principal!;
    const session = principal.sessionId === undefined ? undefined : store.getSession(principal.sessionId);
    if (!session) return reply.code(404).send({ error: 'this request has no console session' });
    return { username: principal.user.username, roles: principal.user.roles, csrf_token: session.csrf, allowed: allowedActions(authorizer, principal) };
  });
  app.delete('/_security/session', async (request, reply) => {
    const principal = request.principal!;
    if (principal.sessionId === undefined) return reply.code(404).send({ error: 'this request has no console session' });
    await store.mutate(() => ({ ops: [{ op: 'deleteSessions', ids: [principal.sessionId!] }], result: undefined }));
    audit.record('session_closed', auditContext(request), { session: principal.sessionId });
    void reply.header('set-cookie', cookie('', 0));
    return { closed: true };
  });
}

/** The console under /_console/: one page and its assets, read once, with a strict policy. A package without them serves no console, and says so. */
export function registerConsole(app: FastifyInstance, logger: Logger): void {
  const root = fileURLToPath(new URL('../../../console/', import.meta.url));
  let bodies: [string, { type: string; body: Buffer }][];
  try {
    bodies = Object.entries(consoleFiles).map(([path, { type, file }]) => [path, { type, body: readFileSync(`${root}${file}`) }]);
  } catch (error) {
    logger.warn({ event: 'console_missing', path: root, error: (error as NodeJS.ErrnoException).code }, `the console's files are missing from ${root} (an incomplete install); the node runs without its console`);
    return;
  }
  for (const [path, { type, body }] of bodies) app.get(path, (_request, reply) => reply.headers({ ...consoleHeaders, 'content-type': type }).send(body));
  app.get('/_console', (_request, reply) => reply.headers(consoleHeaders).redirect('/_console/', 301));
}

import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuditLog } from '../logging/audit.js';
import type { SecurityStore } from '../security/store.js';
import type { LoginThrottle } from '../security/login-throttle.js';
import { NonceLedger, verifyOperatorToken } from '../security/operator-token.js';
import { actionFor } from '../security/rbac-matcher.js';
import { parseBasic, type Authenticator, type Principal } from './authenticator.js';
import { auditContext, canonicalPath, requestPath } from './authorization.js';
import { authenticateAdminToken, authenticateToken, operatorName, scopedPaths } from './token-authenticator.js';
import { consolePath, sessionPrincipal } from './session-routes.js';
import type { SessionLimits } from '../security/sessions.js';

/** What the authentication hook needs. */
export interface AuthenticationOptions {
  readonly store: SecurityStore;
  readonly authenticator: Authenticator;
  readonly throttle: LoginThrottle;
  readonly audit: AuditLog;
  readonly logger: Logger;
  /** Hashes API key and service token secrets; without it neither is accepted. */
  readonly tokenHashKey?: Buffer;
  /** The local operator's signing key; without it no tool can act as the operator. */
  readonly operatorKey?: Buffer;
  /** The header that carries admin tokens (security.rbac.token_header); they need tokenHashKey too. */
  readonly tokenHeader?: string;
  /** Console sessions (the session cookie) and their limits; they need tokenHashKey too. Without it, the cookie opens nothing and /_console/ is not served. */
  readonly sessions?: SessionLimits;
}

/** Whether a header name as sent is `name` (lower case): most clients send it in lower case, which needs no new string. */
const sameName = (sent: string, name: string): boolean => sent === name || (sent.length === name.length && sent.toLowerCase() === name);

/** Where a header's value is in rawHeaders when it was sent exactly once; `notSent` or `sentAgain` otherwise (Node keeps only the first of some repeats and joins others). */
const notSent = -1;
const sentAgain = -2;
function sentOnce(raw: readonly string[], name: string): number {
  let found = notSent;
  for (let index = 0; index < raw.length; index += 2) {
    if (!sameName(raw[index]!, name)) continue;
    if (found !== notSent) return sentAgain;
    found = index + 1;
  }
  return found;
}

/**
 * The caller of a request that sends one Authorization header, with a Basic credential the node has already checked
 * and cached, and no admin token header (`tokenHeader`, when admin tokens are on): the authentication hook's first
 * step, and all that an answer before routing (EarlyAnswers) accepts. Anything else is undefined and left to the hook.
 */
export function cachedCaller(authenticator: Authenticator, tokenHeader: string | undefined): (request: IncomingMessage) => Principal | undefined {
  return (request) => {
    const raw = request.rawHeaders;
    const at = sentOnce(raw, 'authorization');
    // A header sent twice is refused by the hook; an admin token, once, authenticates instead (either way, not here).
    if (at < 0 || (tokenHeader !== undefined && sentOnce(raw, tokenHeader) >= 0)) return undefined;
    // Only a Basic credential is ever cached: any other scheme (Operator, ApiKey, Bearer) is a miss here.
    return authenticator.authenticateCached(raw[at], request.socket);
  };
}

const unauthorized = { error: 'Invalid credentials' };
const badPath = { error: "invalid request path: a malformed percent-escape, an encoded '/' or NUL, or a '.' or '..' segment" };
const throttled = { error: 'Too many failed logins from this address; retry later' };

/** The schemes a client may use, one challenge each. */
const challenges = ['Basic realm="securenode", charset="UTF-8"', 'ApiKey', 'Bearer realm="securenode"'];

/** Who the local operator acts as: a superuser that exists only in memory. */
const operatorUser = { username: operatorName, passwordHash: '', roles: ['superuser'], enabled: true } as const;

/** The one route that needs no credential (SPEC 12): GET /_health. */
export const healthPath = '/_health';

const twoHeaders = { error: 'more than one Authorization header; send one' };

const loopback = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * Every request authenticates (SPEC 7), in this order: a Basic credential
 * already checked and cached (synchronously; only Basic credentials are cached,
 * so a hit never stands in for another scheme), an admin token header, a
 * console session (without an Authorization header), the local operator (a
 * signed single-use token, from loopback only), an API key or service token,
 * then the slow password hash, which
 * runs on the thread pool. Failures are 401 with the challenges, audited, and
 * counted per source address: an address that keeps failing waits longer and
 * longer before its next credential is checked, one check at a time, and gets
 * 429 when too many of its checks already wait. A cached hit is not audited
 * again; everything else is.
 */
export function registerAuthentication(app: FastifyInstance, options: AuthenticationOptions): void {
  const { authenticator, throttle, audit, logger } = options;
  const ledger = new NonceLedger();
  const caller = cachedCaller(authenticator, options.tokenHashKey ? options.tokenHeader : undefined);
  // Every request object is built with the field, so that setting it keeps one shape (fastify's decorators are set in its constructor).
  app.decorateRequest('principal', undefined);
  const succeed = (request: Parameters<typeof auditContext>[0], principal: Principal): void => {
    request.principal = principal;
    audit.record('authentication_success', auditContext(request), {
      type: principal.type,
      ...(principal.apiKey ? { api_key: principal.apiKey.id } : {}),
      ...(principal.tokenName ? { token: principal.tokenName } : {}),
      ...(principal.adminTokenId ? { admin_token: principal.adminTokenId } : {}),
    });
  };
  const refuse = (request: FastifyRequest, reply: FastifyReply, header: string | undefined, scheme = header?.split(' ')[0] ?? 'none'): void => {
    const attempted = parseBasic(header)?.username;
    const path = requestPath(request);
    audit.record('authentication_failed', { source: request.ip, requestId: request.id, ...(attempted ? { user: attempted } : {}) }, { scheme, path });
    logger.info({ event: 'authentication_failed', source: request.ip, path }, 'authentication failed');
    // The console asks for no browser prompt: it shows its own form.
    if (request.headers['x-securenode-console'] === undefined) void reply.header('WWW-Authenticate', challenges);
    void reply.code(401).send(unauthorized);
  };
  // Admitted: recorded, and an enrollment key opens its enroll endpoint and nothing else.
  const admit = (request: FastifyRequest, reply: FastifyReply, principal: Principal, done: () => void): void => {
    succeed(request, principal);
    const only = principal.apiKey && scopedPaths(principal.apiKey);
    if (only && !only.includes(requestPath(request))) {
      audit.record('access_denied', auditContext(request), { method: request.method, path: requestPath(request) });
      void reply.code(403).send({ error: `${principal.apiKey!.name}, you do not have permissions to ${actionFor(request.method)} this resource` });
      return;
    }
    done();
  };
  /**
   * The throttled check of a credential that no fast path admitted. A refused
   * one is checked once more after taking what other nodes committed meanwhile
   * (a key or user made on another node a moment ago, a password changed
   * there), so that what one node acknowledged works on every node at once;
   * the second check runs only when something new was taken.
   */
  const checkSlowly = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void, check: () => Principal | undefined | Promise<Principal | undefined>, refused: { header?: string; scheme?: string; retry: boolean }): void => {
    const checked = throttle.schedule(request.ip, async () => {
      // The store as the check saw it: a change taken while the check ran (the slow hash of an unknown user) counts as new too.
      const seen = options.store.generation;
      let principal = await check();
      if (!principal && refused.retry) {
        await options.store.catchUp();
        if (options.store.generation !== seen) principal = await check();
      }
      if (!principal) throttle.fail(request.ip);
      return principal;
    });
    if (!checked) {
      // Too many checks from this address are already waiting: nothing is checked, nothing is counted.
      logger.info({ event: 'authentication_throttled', source: request.ip }, 'too many failed logins from one address; request turned away');
      void reply.code(429).header('Retry-After', String(Math.ceil(throttle.delayFor(request.ip) / 1000))).send(throttled);
      return;
    }
    checked.then((principal) => (principal ? admit(request, reply, principal, done) : refuse(request, reply, refused.header, refused.scheme)), done);
  };
  app.addHook('onRequest', (request, reply, done) => {
    // Authorization decides on the decoded path, as the router dispatches it: a path that decodes to no single one is refused first.
    const path = canonicalPath(request.url);
    if (path === undefined) {
      reply.code(400).send(badPath);
      return;
    }
    // Liveness for load balancers and service managers: no credential, nothing revealed, nothing audited.
    if (path === healthPath) return done();
    // The console's page and its assets hold no data: a browser loads them before anyone logs in (and a node without the console answers 404).
    if (request.method === 'GET' && consolePath(path)) return done();
    // Most requests: a Basic credential checked before, sent once, and nothing else that authenticates.
    const cached = caller(request.raw);
    if (cached) {
      request.principal = cached;
      return done();
    }
    // Node keeps only the first of repeated Authorization headers: two are refused, not half-read (Kong treats them as anonymous).
    if (sentOnce(request.raw.rawHeaders, 'authorization') === sentAgain) {
      reply.code(400).send(twoHeaders);
      return;
    }
    // One admin token header authenticates; none, or more than one, is anonymous (as in Kong), and the Authorization header decides.
    if (options.tokenHashKey && options.tokenHeader) {
      const at = sentOnce(request.raw.rawHeaders, options.tokenHeader);
      if (at >= 0) {
        const token = request.raw.rawHeaders[at]!;
        const check = (): Principal | undefined => authenticateAdminToken(options.store, options.tokenHashKey!, token);
        const principal = check();
        if (principal) return admit(request, reply, principal, done);
        checkSlowly(request, reply, done, check, { scheme: 'admin_token', retry: true });
        return;
      }
    }
    const header = request.headers.authorization;
    // A console session, when no other credential is sent: checked against the store at every request, state changes with its CSRF token.
    if (header === undefined && options.sessions && options.tokenHashKey && request.headers.cookie !== undefined) {
      const check = () => sessionPrincipal(request, options.store, options.tokenHashKey!, options.sessions!);
      const decide = (found: ReturnType<typeof check>): void => {
        if (found === 'refused') return refuse(request, reply, undefined, 'session');
        if (found === 'csrf') {
          audit.record('access_denied', auditContext(request), { method: request.method, path: requestPath(request), reason: 'csrf' });
          void reply.code(403).send({ error: "this change needs the session's CSRF token in the X-CSRF-Token header" });
          return;
        }
        request.principal = found as Principal;
        done();
      };
      const found = check();
      // No session cookie among the cookies: the request goes on as one without a credential.
      if (found !== 'none') {
        if (found !== 'refused') return decide(found);
        // A session opened on another node a moment ago: read what it committed, then decide.
        const seen = options.store.generation;
        void options.store.catchUp().then(() => decide(options.store.generation === seen ? found : check()), done);
        return;
      }
    }
    if (options.operatorKey && header?.startsWith('Operator ')) {
      // The token signs the path as the tool sent it, escapes and all (a user named a@b is sent as a%40b).
      const signed = request.url.split('?')[0]!;
      if (loopback.has(request.socket.remoteAddress ?? '') && verifyOperatorToken(options.operatorKey, header.slice('Operator '.length), request.method, signed, ledger)) {
        succeed(request, { user: operatorUser, type: 'operator' });
        logger.info({ event: 'operator_authenticated', path: requestPath(request) }, 'local operator authenticated');
        return done();
      }
      checkSlowly(request, reply, done, () => undefined, { header, retry: false });
      return;
    }
    if (options.tokenHashKey && (header?.startsWith('ApiKey ') || header?.startsWith('Bearer '))) {
      const check = (): Principal | undefined => authenticateToken(options.store, options.tokenHashKey!, header);
      const principal = check();
      if (principal) return admit(request, reply, principal, done);
      checkSlowly(request, reply, done, check, { header, retry: true });
      return;
    }
    // No credential, or none of a known form: nothing was checked, so nothing counts as a failed login (a load balancer's probe must not slow the operators).
    if (parseBasic(header) === undefined) {
      refuse(request, reply, header);
      return;
    }
    checkSlowly(request, reply, done, () => authenticator.verifyAndCache(header), { header, retry: true });
  });
}

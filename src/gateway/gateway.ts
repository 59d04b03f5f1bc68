import type { IncomingHttpHeaders } from 'node:http';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type httpProxyPlugin from '@fastify/http-proxy';
import type { Logger } from 'pino';
import type { GatewayRoute } from '../settings/gateway-routes.js';
import { csrfHeader, sessionCookie } from '../security/sessions.js';
import { headerSafe } from '../node/forward-auth.js';
import type { Principal } from '../node/authenticator.js';
import { SecurenodeError } from '../errors.js';
import { gatewayRoutes } from '../settings/gateway-routes.js';
import type { Settings } from '../settings/settings.js';

/** A route with what it needs at run time: the upstream CA's PEM, read at start. */
export type LoadedRoute = GatewayRoute & { readonly caPem?: string };

/** gateway.routes with each route's CA read (a path relative to the config dir); a CA that cannot be read stops the start (78). */
export async function loadGatewayRoutes(settings: Settings, configDir: string): Promise<LoadedRoute[]> {
  return Promise.all(
    gatewayRoutes(settings.records('gateway.routes')).map(async (route) => {
      if (route.ca === undefined) return route;
      const file = resolve(configDir, route.ca);
      const caPem = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new SecurenodeError('ERR_CONFIG_INVALID_VALUE', `gateway.routes: the ca of route '${route.name}', ${file}, cannot be read (${error.code ?? 'error'})`);
      });
      if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw new SecurenodeError('ERR_CONFIG_INVALID_VALUE', `gateway.routes: the ca of route '${route.name}', ${file}, holds no PEM certificate`);
      return { ...route, caPem };
    }),
  );
}

/** What the gateway strips besides the credentials: the node's own headers (identity, console), which only the node may set. */
const ownHeader = /^x-securenode-/;

/** A cookie header without the node's session cookie (the upstream never sees it); undefined when nothing is left. */
export function withoutSessionCookie(cookie: string | undefined): string | undefined {
  if (cookie === undefined) return undefined;
  const kept = cookie.split(';').filter((pair) => pair.split('=', 1)[0]!.trim() !== sessionCookie);
  const joined = kept.map((pair) => pair.trim()).filter((pair) => pair.length > 0).join('; ');
  return joined.length > 0 ? joined : undefined;
}

/**
 * The headers the upstream gets: the client's, without any credential the node
 * took (Authorization, Proxy-Authorization, the admin token header, the session
 * cookie and its CSRF token), without any X-Securenode-* header a client
 * sent, and without Expect (the node answered it); with the caller's identity and X-Forwarded-For/-Proto/-Host as nginx's
 * proxy_add_x_forwarded_for writes them.
 */
export function upstreamHeaders(request: FastifyRequest, headers: IncomingHttpHeaders, tokenHeader: string | undefined): IncomingHttpHeaders {
  const principal = request.principal as Principal;
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    // Expect: 100-continue is answered by the node's server (the client's body is on its way); undici refuses to send it on.
    if (name === 'authorization' || name === 'proxy-authorization' || name === csrfHeader || name === tokenHeader || ownHeader.test(name) || name === 'cookie' || name === 'expect') continue;
    out[name] = value;
  }
  const cookie = withoutSessionCookie(request.headers.cookie);
  if (cookie !== undefined) out.cookie = cookie;
  const forwarded = request.headers['x-forwarded-for'];
  const client = request.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = forwarded ? `${[forwarded].flat().join(', ')}, ${client}` : client;
  out['x-forwarded-proto'] = 'https';
  if (request.headers.host !== undefined) out['x-forwarded-host'] = request.headers.host;
  out['x-securenode-user'] = headerSafe(principal.user.username);
  out['x-securenode-roles'] = principal.user.roles.map(headerSafe).join(',');
  return out;
}

/** An upstream's Set-Cookie without the node's session cookie: an upstream cannot plant or end a console session. */
function withoutSessionSetCookie(headers: Record<string, unknown>): Record<string, unknown> {
  const setCookie = headers['set-cookie'];
  if (setCookie === undefined) return headers;
  const kept = [setCookie].flat().filter((line) => String(line).split('=', 1)[0]!.trim() !== sessionCookie);
  const { 'set-cookie': _dropped, ...rest } = headers;
  return kept.length > 0 ? { ...rest, 'set-cookie': kept } : rest;
}

/** Why an upstream failed, in words, from the proxy's error and its cause. */
function upstreamFailure(error: Error & { statusCode?: number; cause?: unknown }, route: LoadedRoute): { status: 502 | 504; code: string; words: string } {
  const cause = error.cause as (Error & { code?: string }) | undefined;
  const code = cause?.code ?? (error as { code?: string }).code ?? 'unknown';
  if (error.statusCode === 504) return { status: 504, code, words: `did not answer within ${route.timeoutMs / 1000}s` };
  const known: Record<string, string> = {
    ECONNREFUSED: 'refused the connection', ECONNRESET: 'closed the connection', UND_ERR_SOCKET: 'closed the connection', ENOTFOUND: 'has a host name that does not resolve',
    EHOSTUNREACH: 'cannot be reached', UND_ERR_CONNECT_TIMEOUT: 'cannot be reached', DEPTH_ZERO_SELF_SIGNED_CERT: 'presented a certificate its CA does not sign (route ca)',
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'presented a certificate its CA does not sign (route ca)', SELF_SIGNED_CERT_IN_CHAIN: 'presented a certificate its CA does not sign (route ca)', ERR_TLS_CERT_ALTNAME_INVALID: 'presented a certificate for another name',
  };
  return { status: 502, code, words: known[code] ?? 'failed' };
}

/**
 * The gateway (gateway.routes): every request under a route's path is
 * authenticated and authorized by the node's own hooks (the routes carry
 * config.gateway, which makes their endpoint rows count in every enforce mode
 * but off), then proxied by @fastify/http-proxy (reply-from on undici): bodies
 * streamed both ways, WebSocket upgrades, the route's timeout, credentials
 * stripped and the identity added. An upstream that fails is a 502 or 504 with
 * the route named, and logged with its address.
 */
export async function registerGateway(app: FastifyInstance, options: { routes: readonly LoadedRoute[]; tokenHeader?: string; logger: Logger }): Promise<void> {
  // Loaded only by a node with routes: the proxy, undici and ws weigh on every start otherwise.
  const { default: httpProxy } = (await import('@fastify/http-proxy')) as { default: typeof httpProxyPlugin };
  for (const route of options.routes) {
    const base = route.upstream.pathname.replace(/\/$/, '');
    const prefix = route.path;
    await app.register(async (scope) => {
      // Bodies go upstream as they come, whatever their type: the node parses none of them.
      scope.removeAllContentTypeParsers();
      const onError = (reply: FastifyReply, { error }: { error: Error & { statusCode?: number } }): void => {
        const failure = upstreamFailure(error, route);
        options.logger.warn({ event: 'gateway_upstream_failed', route: route.name, upstream: route.upstream.origin + base, code: failure.code, status: failure.status }, `the upstream of route '${route.name}' ${failure.words}`);
        void reply.code(failure.status).header('content-type', 'application/json; charset=utf-8').send({ error: `the upstream of route '${route.name}' ${failure.words}; see the node log` });
      };
      await scope.register(httpProxy, {
        upstream: route.upstream.origin,
        prefix,
        rewritePrefix: route.stripPath ? base || '/' : base + prefix,
        websocket: true,
        config: { gateway: route.name },
        undici: {
          headersTimeout: route.timeoutMs,
          bodyTimeout: route.timeoutMs,
          // noDelay: without it a small request waits on Nagle's algorithm (measured: 1,500 against 4,200 proxied requests per second on one connection).
          connect: { timeout: Math.min(route.timeoutMs, 10_000), noDelay: true, rejectUnauthorized: true, ...(route.caPem ? { ca: route.caPem } : {}) },
        },
        replyOptions: {
          rewriteRequestHeaders: (request: FastifyRequest, headers: IncomingHttpHeaders) => upstreamHeaders(request, headers, options.tokenHeader),
          rewriteHeaders: (headers: Record<string, unknown>) => withoutSessionSetCookie(headers),
          onError,
          // A failed or 503 answer is the upstream's to give: never sent again behind the client's back.
          retryDelay: () => null,
        },
        wsClientOptions: {
          rewriteRequestHeaders: (_headers: Record<string, unknown>, request: FastifyRequest) => {
            const { host: _host, connection: _connection, upgrade: _upgrade, 'sec-websocket-key': _key, 'sec-websocket-version': _version, 'sec-websocket-extensions': _extensions, 'sec-websocket-protocol': _protocol, ...rest } = upstreamHeaders(request, request.headers, options.tokenHeader);
            return rest;
          },
          ...(route.caPem ? { ca: route.caPem } : {}),
          rejectUnauthorized: true,
        },
      } as Parameters<typeof httpProxyPlugin>[1]);
    });
  }
}

import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** A request of an embedding server, as node:http, Express or Fastify's request.raw has it. */
export interface RequestToDecide {
  readonly method?: string | undefined;
  /** The path and query as the client sent them (Express: req.originalUrl). */
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders?: readonly string[];
  readonly socket?: { readonly remoteAddress?: string | undefined } | undefined;
}

/** Who a request is, when it may go on. */
export interface Identity {
  readonly username: string;
  readonly roles: readonly string[];
}

/** Go on as `user`, or answer with the node's refusal (401 with its challenges, 403, 400, 429) as it is. */
export type Decision =
  | { readonly allowed: true; readonly user: Identity }
  | { readonly allowed: false; readonly status: number; readonly headers: Readonly<Record<string, string | string[]>>; readonly body: string };

/** Headers of the refusal that the client needs: the challenges, when to retry, what the body is. */
const passedOn = ['www-authenticate', 'retry-after', 'content-type'];

/** Headers that name the request forward auth decides on: only the embedding server's own request may. */
const decidingHeaders = ['x-original-uri', 'x-original-method', 'x-forwarded-uri', 'x-forwarded-method', 'content-length', 'transfer-encoding'];

/**
 * Decide a request of an embedding server in process, by the node's own
 * forward-auth route: authenticated as every request to the node (the same
 * hook, cache, throttle per client address and audit), then decided by the
 * caller's RBAC endpoint rows on the request's decoded path. No socket is
 * opened: fastify's inject runs the route in this process.
 */
export async function decideRequest(app: FastifyInstance, request: RequestToDecide): Promise<Decision> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined && !decidingHeaders.includes(name)) headers[name] = value;
  // Node keeps only the first of repeated Authorization headers: pass every one on, so that the node refuses two as it does on its port.
  const raw = request.rawHeaders ?? [];
  const authorizations = raw.filter((_, index) => index % 2 === 0 && raw[index]!.toLowerCase() === 'authorization').length;
  if (authorizations > 1) headers['authorization'] = raw.filter((_, index) => index % 2 === 1 && raw[index - 1]!.toLowerCase() === 'authorization');
  headers['x-original-uri'] = request.url ?? '/';
  headers['x-original-method'] = request.method ?? 'GET';
  const response = await app.inject({ method: 'GET', url: '/_auth/forward', headers, remoteAddress: request.socket?.remoteAddress ?? '' });
  if (response.statusCode === 200) {
    const user = decodeURIComponent(String(response.headers['x-securenode-user']));
    const roles = String(response.headers['x-securenode-roles'] ?? '').split(',').filter((role) => role.length > 0).map(decodeURIComponent);
    return { allowed: true, user: { username: user, roles } };
  }
  const out: Record<string, string | string[]> = {};
  for (const name of passedOn) {
    const value = response.headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return { allowed: false, status: response.statusCode, headers: out, body: response.body };
}

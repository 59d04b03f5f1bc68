import type { IncomingMessage, ServerResponse } from 'node:http';
import { canonicalPath } from '../node/authorization.js';
import type { Identity, Securenode } from '../index.js';

/** A request as Express and Connect pass it; the middleware adds `securenode`. */
export type SecurenodeRequest = IncomingMessage & { originalUrl?: string; securenode?: { readonly user: Identity } };

/**
 * An Express (or Connect) middleware: each request is authenticated by the
 * running securenode and decided by the caller's RBAC endpoint rows on its
 * path as the client sent it (req.originalUrl, whatever router it is mounted
 * on); req.securenode.user carries the identity, and a refusal is the node's
 * own answer (401 with its challenges, 403).
 */
export function securenodeExpress(node: Pick<Securenode, 'decide'>, options: { readonly public?: readonly string[] } = {}) {
  if (typeof node?.decide !== 'function') throw new TypeError('securenodeExpress needs the node that startSecurenode returned');
  const open = new Set(options.public ?? []);
  return (request: SecurenodeRequest, response: ServerResponse, next: (error?: unknown) => void): void => {
    const url = request.originalUrl ?? request.url ?? '/';
    if (open.size > 0 && open.has(canonicalPath(url) ?? '')) return next();
    node.decide({ method: request.method, url, headers: request.headers, rawHeaders: request.rawHeaders, socket: request.socket }).then((decision) => {
      if (decision.allowed) {
        request.securenode = { user: decision.user };
        return next();
      }
      response.statusCode = decision.status;
      for (const [name, value] of Object.entries(decision.headers)) response.setHeader(name, value);
      response.end(decision.body);
    }, next);
  };
}

import type { FastifyPluginAsync } from 'fastify';
import { canonicalPath } from '../node/authorization.js';
import type { Identity, Securenode } from '../index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request, set by the securenode plugin; undefined on its public paths. */
    securenode?: { readonly user: Identity };
  }
}

/** The plugin's options: the running securenode, and paths anyone may reach without a credential. */
export interface SecurenodeFastifyOptions {
  readonly node: Pick<Securenode, 'decide'>;
  /** Exact paths (decoded, without the query) that need no credential, such as a health check. */
  readonly public?: readonly string[];
}

/**
 * A fastify plugin: every request of the app (its routes and its 404s alike)
 * is authenticated by the running securenode and decided by the caller's RBAC
 * endpoint rows on its path (a role with `{"endpoint":"/reports","actions":["read"]}`
 * may GET /reports), before its body is read. request.securenode.user carries the
 * identity; a refusal is the node's own answer (401 with its challenges, 403).
 * It applies to the whole app (not only to routes registered inside it).
 */
export const securenodeFastify: FastifyPluginAsync<SecurenodeFastifyOptions> = async (app, options) => {
  if (typeof options?.node?.decide !== 'function') throw new TypeError('securenodeFastify needs { node }: what startSecurenode returned');
  const open = new Set(options.public ?? []);
  app.decorateRequest('securenode', undefined);
  app.addHook('onRequest', async (request, reply) => {
    if (open.size > 0 && open.has(canonicalPath(request.url) ?? '')) return;
    const decision = await options.node.decide({ method: request.method, url: request.url, headers: request.headers, rawHeaders: request.raw.rawHeaders, socket: request.raw.socket });
    if (decision.allowed) {
      request.securenode = { user: decision.user };
      return;
    }
    return reply.code(decision.status).headers(decision.headers).send(decision.body);
  });
};
// As fastify-plugin does: the hook belongs to the app that registers the plugin, not to a child context.
Object.assign(securenodeFastify, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'securenode' });

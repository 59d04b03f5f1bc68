import type { FastifyInstance } from 'fastify';
import type { Principal } from './authenticator.js';

/** What the routes report about the node. */
export interface NodeInfo {
  readonly name: string;
  readonly clusterName: string;
  readonly clusterUuid: string;
  readonly nodeId: string;
  readonly version: string;
  readonly roles: readonly string[];
  httpAddress: string;
  transportAddress: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** GET /, /_security/_authenticate, /_cluster/health and /_nodes/_local. */
export function registerInfoRoutes(app: FastifyInstance, info: NodeInfo): void {
  // The node info never changes while the node runs: serialize it once.
  const rootBody = JSON.stringify({
    name: info.name,
    cluster_name: info.clusterName,
    cluster_uuid: info.clusterUuid,
    version: { number: info.version },
    tagline: 'Secure on first start',
  });
  app.get('/', (_request, reply) => {
    reply.type('application/json; charset=utf-8').send(rootBody);
  });

  app.get('/_security/_authenticate', async (request) => {
    const { user, type } = request.principal!;
    return {
      username: user.username,
      roles: user.roles,
      full_name: user.fullName ?? null,
      email: user.email ?? null,
      enabled: user.enabled,
      authentication_realm: { name: 'default_native', type: 'native' },
      authentication_type: type,
    };
  });

  app.get('/_cluster/health', async () => ({
    cluster_name: info.clusterName,
    cluster_uuid: info.clusterUuid,
    status: 'green',
    number_of_nodes: 1,
    nodes: [{ id: info.nodeId, name: info.name, state: 'connected', transport_address: info.transportAddress }],
  }));

  app.get('/_nodes/_local', async () => ({
    cluster_name: info.clusterName,
    nodes: {
      [info.nodeId]: {
        name: info.name,
        version: info.version,
        roles: info.roles,
        http: { publish_address: info.httpAddress },
        transport: { publish_address: info.transportAddress },
      },
    },
  }));
}

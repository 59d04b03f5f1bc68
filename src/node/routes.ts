import type { FastifyInstance } from 'fastify';
import type { MemberState } from '../cluster/cluster.js';
import type { Principal } from './authenticator.js';
import { healthPath } from './authentication.js';
import type { CertificateDescription } from '../pki/renewal.js';

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
  enrollmentAddresses: readonly string[];
  /** Transport addresses of this node, for a joining node (which learns the others from it). */
  nodesAddresses: readonly string[];
  /** The cluster's nodes as this node sees them, itself first. */
  nodes: () => readonly MemberState[];
  /** This node's certificates that end within security.certs.warn_before. */
  expiringCertificates: () => readonly CertificateDescription[];
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

  // Liveness: the node is up and serving HTTPS. It answers without credentials, so it says nothing else.
  const healthBody = JSON.stringify({ status: 'ok' });
  app.get(healthPath, (_request, reply) => {
    reply.type('application/json; charset=utf-8').send(healthBody);
  });

  app.get('/_security/_authenticate', async (request) => {
    const { user, type, apiKey, tokenName } = request.principal!;
    return {
      ...(apiKey ? { api_key: { id: apiKey.id, name: apiKey.name } } : {}),
      ...(tokenName ? { token: { name: tokenName, type: '_service_account' } } : {}),
      username: user.username,
      roles: user.roles,
      full_name: user.fullName ?? null,
      email: user.email ?? null,
      enabled: user.enabled,
      authentication_realm: type === 'realm' ? { name: 'default_native', type: 'native' } : { name: `_${type}`, type: `_${type}` },
      authentication_type: type,
    };
  });

  app.get('/_cluster/health', async () => {
    const nodes = info.nodes();
    const connected = nodes.filter((node) => node.state === 'connected').length;
    return {
      cluster_name: info.clusterName,
      cluster_uuid: info.clusterUuid,
      // Yellow: a node this one knew of is out of reach.
      status: connected === nodes.length ? 'green' : 'yellow',
      number_of_nodes: connected,
      nodes,
      // This node's certificates that end soon: what to renew before clients break.
      expiring_certificates: info.expiringCertificates().map((certificate) => ({ name: certificate.name, subject: certificate.subject, not_after: certificate.notAfter, days_left: certificate.daysLeft })),
    };
  });

  app.get('/_nodes/_local', async () => ({
    cluster_name: info.clusterName,
    nodes: {
      [info.nodeId]: {
        name: info.name,
        version: info.version,
        roles: info.roles,
        http: { publish_address: info.httpAddress, enrollment_addresses: info.enrollmentAddresses },
        transport: { publish_address: info.transportAddress },
      },
    },
  }));
}

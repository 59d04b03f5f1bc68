import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import type { MemberState } from '../cluster/cluster.js';
import type { Principal } from './authenticator.js';
import { healthPath } from './authentication.js';
import { jsonAnswer, sendAnswer, type Answer, type EarlyAnswer } from './early-answers.js';
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
  interface FastifyContextConfig {
    /** The route's answer to any caller it admits, given before routing where EarlyAnswers can (GET routes only). */
    early?: EarlyAnswer;
  }
}

/** GET /_security/_authenticate's answer: who the caller is, and how they authenticated. */
function whoAmI({ user, type, apiKey, tokenName }: Principal): Answer {
  return jsonAnswer(JSON.stringify({
    ...(apiKey ? { api_key: { id: apiKey.id, name: apiKey.name } } : {}),
    ...(tokenName ? { token: { name: tokenName, type: '_service_account' } } : {}),
    username: user.username,
    roles: user.roles,
    full_name: user.fullName ?? null,
    email: user.email ?? null,
    enabled: user.enabled,
    authentication_realm: type === 'realm' ? { name: 'default_native', type: 'native' } : { name: `_${type}`, type: `_${type}` },
    authentication_type: type,
  }));
}

/** GET /, /_security/_authenticate, /_cluster/health, /_nodes/_local and /_nodes/_local/stats. */
export function registerInfoRoutes(app: FastifyInstance, info: NodeInfo): void {
  // The node info never changes while the node runs: serialize it once.
  const rootBody = JSON.stringify({
    name: info.name,
    cluster_name: info.clusterName,
    cluster_uuid: info.clusterUuid,
    version: { number: info.version },
    tagline: 'Secure on first start',
  });
  const root = jsonAnswer(rootBody);
  app.get('/', { config: { early: () => root } }, (_request, reply) => {
    sendAnswer(reply, root);
  });

  // Liveness: the node is up and serving HTTPS. It answers without credentials, so it says nothing else.
  const healthBody = JSON.stringify({ status: 'ok' });
  app.get(healthPath, (_request, reply) => {
    reply.type('application/json; charset=utf-8').send(healthBody);
  });

  app.get('/_security/_authenticate', { config: { early: whoAmI } }, (request, reply) => {
    sendAnswer(reply, whoAmI(request.principal!));
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

  registerStatsRoute(app, info);
}

/** Nanoseconds of the histogram as milliseconds over the timer's 10 ms resolution, to 0.01 ms. */
const toMs = (nanoseconds: number): number => nanoseconds / 1e6;
const overResolution = (ms: number): number => Math.max(0, Math.round((ms - 10) * 100) / 100);

/**
 * GET /_nodes/_local/stats: the process (uptime, CPU, memory) and how long the
 * event loop was held up, which no client can see from outside (a client's
 * wait also holds the machine's other work). The event-loop figures cover the
 * time since the previous read of these stats (or the start), as prom-client
 * resets its lag histogram at each scrape: the longest stall of a period is a
 * read before it and a read after it.
 */
function registerStatsRoute(app: FastifyInstance, info: NodeInfo): void {
  // 10 ms resolution, the delay histogram Node itself keeps off the event loop.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let since = Date.now();
  app.addHook('onClose', async () => delay.disable());
  app.get('/_nodes/_local/stats', async () => {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    // An empty histogram (no tick yet) reports NaN for its mean: 0, nothing waited.
    const window = { since: new Date(since).toISOString(), max: toMs(delay.max), p99: toMs(delay.percentile(99)), p50: toMs(delay.percentile(50)), mean: Number.isNaN(delay.mean) ? 0 : toMs(delay.mean) };
    delay.reset();
    since = Date.now();
    return {
      cluster_name: info.clusterName,
      nodes: {
        [info.nodeId]: {
          name: info.name,
          timestamp: Date.now(),
          process: {
            uptime_in_millis: Math.round(process.uptime() * 1000),
            cpu: { user_in_millis: Math.round(cpu.user / 1000), system_in_millis: Math.round(cpu.system / 1000) },
            mem: { resident_in_bytes: memory.rss, heap_used_in_bytes: memory.heapUsed, heap_total_in_bytes: memory.heapTotal, external_in_bytes: memory.external },
          },
          // The timer's own resolution (10 ms) is taken off: 0 is an event loop that never waited.
          event_loop: { delay_in_millis: { since: window.since, max: overResolution(window.max), p99: overResolution(window.p99), p50: overResolution(window.p50), mean: overResolution(window.mean) } },
        },
      },
    };
  });
}

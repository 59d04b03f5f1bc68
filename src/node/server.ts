import type { AddressInfo, Server as NetServer } from 'node:net';
import type { Server } from 'node:tls';
import { createServer } from 'node:https';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { TlsFiles } from '../autoconfig/tls-files.js';
import type { SecurityStore } from '../security/store.js';
import { parseDuration } from '../settings/coerce.js';
import type { Settings } from '../settings/settings.js';
import { Authenticator } from './authenticator.js';
import { removeNodeAddress, writeNodeAddress, type NodeIdentity } from './data-dir.js';
import { SecurenodeError } from '../errors.js';
import { registerInfoRoutes, type NodeInfo } from './routes.js';
import { registerUserRoutes } from './user-routes.js';
import { registerApiKeyRoutes } from './api-key-routes.js';
import { registerAdminTokenRoutes } from './admin-token-routes.js';
import { registerEnrollRoutes } from './enroll-routes.js';
import { cachedCaller, registerAuthentication } from './authentication.js';
import { EarlyAnswers } from './early-answers.js';
import { auditContext, registerAuthorization, requestPath } from './authorization.js';
import { Refusal } from './refusal.js';
import { intermediateTls } from './tls-profile.js';
import { lazyValidator, maxBodyBytes, registerJsonBodies, warmValidators } from './body-limits.js';
import { registerRoleRoutes } from './role-routes.js';
import { registerConsole, registerSessionRoutes } from './session-routes.js';
import { registerAuditRoute } from './audit-routes.js';
import { registerForwardAuth } from './forward-auth.js';
import { Authorizer, type EnforceMode } from '../security/authorizer.js';
import { LoginThrottle } from '../security/login-throttle.js';
import { noAudit, type AuditLog } from '../logging/audit.js';
import { enrollmentAddresses } from '../enrollment/addresses.js';
import { randomUUID, X509Certificate } from 'node:crypto';
import { createTransportServer } from './transport.js';
import { Cluster } from '../cluster/cluster.js';
import { noSharing, shareStore } from '../cluster/shared-store.js';
import { FileStore } from '../security/file-store.js';
import { registerGateway, type LoadedRoute } from '../gateway/gateway.js';
import { CertificateKeeper } from './certificate-keeper.js';
import { keepTickShape } from '../io/heap.js';
import { bindHost, listen } from './listen.js';

/** What startNode needs. */
export interface NodeOptions {
  readonly settings: Settings;
  readonly tls: TlsFiles;
  readonly store: SecurityStore;
  readonly identity: NodeIdentity;
  readonly logger: Logger;
  readonly version: string;
  /** The key that hashes API key and service token secrets (from the keystore); without it neither is accepted. */
  readonly tokenHashKey?: Buffer;
  /** The local operator's signing key (from the keystore); without it no tool can act as the operator. */
  readonly operatorKey?: Buffer;
  /** The data dir: the node records its address there for the companion tools before it announces itself. */
  readonly dataDir?: string;
  /** Ports bound before privileges were dropped; the servers take them over instead of binding. */
  readonly bound?: { readonly http: NetServer; readonly transport: NetServer };
  /** logs/audit.log; default none (an embedding server may keep its own). */
  readonly audit?: AuditLog;
  /** The config dir: given, the node looks after its certificates (reloads a renewed http.p12, renews when due, warns before expiry). */
  readonly configDir?: string;
  /** Services behind the node's authentication and RBAC (gateway.routes, with their CAs read). */
  readonly gateway?: readonly LoadedRoute[];
  /** The node and cluster names for log lines, as written (a vault reference stays a reference). */
  readonly names?: { readonly node: string; readonly cluster: string };
  /** false: every request goes through fastify, none is answered before routing (EarlyAnswers); default true. */
  readonly earlyAnswers?: boolean;
}

export { bindHost } from './listen.js';

/** A node that is listening. */
export interface RunningNode {
  readonly http: { readonly host: string; readonly port: number };
  readonly transport: { readonly host: string; readonly port: number };
  /** The addresses an enrollment token names (SPEC 6). */
  readonly enrollmentAddresses: readonly string[];
  readonly app: FastifyInstance;
  close(): Promise<void>;
}


/** Headers that carry something else, or that a proxy rewrites: never an admin token's. */
const reservedHeaders = new Set(['authorization', 'cookie', 'host', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'x-forwarded-for', 'proxy-authorization']);

/** security.rbac.token_header, lower case as Node keeps header names; refused (78) when it is no header name or one that carries something else. */
function adminTokenHeader(name: string): string {
  const lower = name.toLowerCase();
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(lower) || reservedHeaders.has(lower)) {
    throw new SecurenodeError('ERR_CONFIG_INVALID_VALUE', `security.rbac.token_header must be a header name of its own (letters, digits and '-', not ${[...reservedHeaders].join(', ')}), not '${name}'`);
  }
  return lower;
}

/** Fastify's default compilers, never loaded: a route that declares a response schema fails at the start, loudly, instead of an answer filtered by a compiler nobody chose. */
function noDefaultCompiler(): never {
  throw new Error('the node validates with its own compiler and declares no response schemas: build the answer in the route');
}

/**
 * Start the node: the HTTPS REST API (TLS 1.2 or later, from http.p12) behind
 * Basic authentication, and the mutual-TLS transport listener, through which
 * it finds the cluster's other nodes and shares the security store.
 */
export async function startNode(options: NodeOptions): Promise<RunningNode> {
  const { settings, tls, logger } = options;
  // Every request goes through process.nextTick: keep its fast path through the node's first rest (see keepTickShape).
  keepTickShape();
  const bootId = randomUUID();
  let requests = 0;
  const ttl = parseDuration(settings.string('security.authc.cache.ttl')!) ?? 1_200_000;
  const authenticator = new Authenticator(options.store, ttl);
  const tokenHeader = adminTokenHeader(settings.string('security.rbac.token_header')!);
  const early = options.earlyAnswers === false ? undefined : new EarlyAnswers(cachedCaller(authenticator, options.tokenHashKey ? tokenHeader : undefined));
  const app = Fastify({
    // The https server as fastify makes it (its keep-alive, request and socket timeouts), with the answers given
    // before routing in front of fastify's handler.
    serverFactory: (handler, fastifyOptions) => {
      const server = createServer({ pfx: tls.httpP12, passphrase: tls.httpP12Password, ...intermediateTls }, early === undefined ? handler : (request, response) => {
        if (!early.answer(request, response)) handler(request, response);
      });
      const timeouts = fastifyOptions as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number };
      server.keepAliveTimeout = timeouts.keepAliveTimeout;
      server.requestTimeout = timeouts.requestTimeout;
      server.setTimeout(timeouts.connectionTimeout);
      return server;
    },
    logger: false,
    bodyLimit: maxBodyBytes,
    // Request ids for the audit log: unique across restarts, never taken from the client.
    genReqId: () => `${bootId}-${(++requests).toString(36)}`,
    // Without these, fastify loads its own ajv compiler and fast-json-stringify, which the node never uses (its
    // validator is set below; it declares no response schemas): 3 MB less at rest (70.8 against 74.2 MB, three nodes each).
    schemaController: { compilersFactory: { buildValidator: noDefaultCompiler, buildSerializer: noDefaultCompiler } },
  });
  // Bodies are checked as they are (no extra field silently dropped, no type silently coerced), by validators compiled at build time or on first use.
  app.setValidatorCompiler(lazyValidator);
  registerJsonBodies(app);
  const audit = options.audit ?? noAudit;
  const info: NodeInfo = {
    name: settings.string('node.name')!,
    clusterName: settings.string('cluster.name')!,
    clusterUuid: options.identity.clusterUuid,
    nodeId: options.identity.nodeId,
    version: options.version,
    roles: settings.list('node.roles'),
    httpAddress: '',
    transportAddress: '',
    enrollmentAddresses: [],
    nodesAddresses: [],
    nodes: () => cluster.nodes(),
    expiringCertificates: () => keeper?.expiring() ?? [],
  };
  const keeper = options.configDir ? new CertificateKeeper({ settings, configDir: options.configDir, tls, logger, audit }) : undefined;
  // The file store is shared through transport: the node that created the cluster holds it. A database is every node's own.
  const holdsStore = options.store instanceof FileStore && options.identity.holdsStore !== false;
  const sharing = options.store instanceof FileStore ? shareStore(options.store, holdsStore, options.tokenHashKey) : noSharing;
  const cluster = new Cluster({
    tls,
    clusterName: info.clusterName,
    clusterUuid: info.clusterUuid,
    storeType: options.store instanceof FileStore ? 'file' : 'postgres',
    seeds: settings.list('discovery.seed_hosts'),
    logger,
    handlers: sharing.handlers,
    events: sharing.events,
    onConnected: sharing.onConnected,
    self: () => ({
      id: info.nodeId,
      name: info.name,
      transport_address: info.nodesAddresses[0] ?? info.transportAddress,
      http_address: info.enrollmentAddresses[0] ?? info.httpAddress,
      holds_store: holdsStore,
    }),
  });
  sharing.attach(cluster);
  // The console and its sessions, unless turned off; a session's secret is hashed with the key that hashes API keys.
  const sessions = settings.bool('console.enabled') !== false && options.tokenHashKey
    ? { idleMs: parseDuration(settings.string('console.session.idle_timeout')!) ?? 900_000, absoluteMs: parseDuration(settings.string('console.session.absolute_timeout')!) ?? 86_400_000 }
    : undefined;
  registerAuthentication(app, {
    store: options.store, authenticator, throttle: new LoginThrottle(), audit, logger, tokenHeader,
    ...(options.tokenHashKey ? { tokenHashKey: options.tokenHashKey } : {}),
    ...(options.operatorKey ? { operatorKey: options.operatorKey } : {}),
    ...(sessions ? { sessions } : {}),
  });
  const authorizer = new Authorizer(options.store, settings.string('security.rbac.enforce') as EnforceMode);
  registerAuthorization(app, authorizer, audit, early);
  // Closing: fastify answers 503 to what still comes on open connections, so nothing is answered before it any more.
  // fastify closes a server from serverFactory only when it listened on it itself, which the node does not: closed
  // here as fastify closes its own, done once every connection has ended.
  app.addHook('preClose', (done) => {
    early?.close();
    app.server.close(() => done());
  });
  if (authorizer.mode === 'off') {
    logger.warn({ event: 'rbac_off' }, 'security.rbac.enforce is off: every authenticated caller may do anything; set it to on, entity or both');
  }
  // An unexpected failure is logged (its message, never a request body) and answered without detail.
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    if (error instanceof Refusal) {
      if (error.denied) audit.record('access_denied', auditContext(request), error.denied);
      return reply.code(error.status).send(error.body);
    }
    // A body over the limit is a 400 with the limit, as every other malformed body is.
    if ((error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(400).send({ error: `invalid body: larger than ${maxBodyBytes / 1024 / 1024} MiB` });
    if (error.statusCode && error.statusCode < 500) return reply.code(error.statusCode).send({ error: error.message });
    if (error instanceof SecurenodeError && error.code === 'ERR_STORE_UNAVAILABLE') return reply.code(503).send({ error: error.message });
    logger.error({ event: 'request_failed', path: requestPath(request), error: error.message }, 'request failed');
    return reply.code(500).send({ error: 'internal error; see the node log' });
  });
  registerInfoRoutes(app, info);
  registerAuditRoute(app, audit);
  registerForwardAuth(app, { authorizer, audit });
  const context = { store: options.store, authorizer, audit, logger };
  registerUserRoutes(app, context);
  registerRoleRoutes(app, context);
  if (sessions && options.tokenHashKey) {
    registerSessionRoutes(app, { store: options.store, hashKey: options.tokenHashKey, limits: sessions, audit, authorizer });
    registerConsole(app, logger);
  }
  if (options.tokenHashKey) {
    registerApiKeyRoutes(app, { ...context, hashKey: options.tokenHashKey });
    registerAdminTokenRoutes(app, { ...context, hashKey: options.tokenHashKey, header: settings.string('security.rbac.token_header')! });
    registerEnrollRoutes(app, {
      store: options.store,
      hashKey: options.tokenHashKey,
      enabled: settings.bool('security.enrollment.enabled') === true,
      tls,
      cluster: { name: info.clusterName, uuid: info.clusterUuid },
      nodesAddresses: () => info.nodesAddresses,
      httpAddresses: () => info.enrollmentAddresses,
      version: options.version,
      logger,
      audit,
    });
  }

  if (options.gateway && options.gateway.length > 0) {
    await registerGateway(app, { routes: options.gateway, tokenHeader, logger });
    logger.info({ event: 'gateway_routes', routes: options.gateway.map((route) => ({ name: route.name, path: route.path, upstream: route.upstream.href })) }, `gateway: ${options.gateway.map((route) => `${route.path} -> ${route.upstream.href}`).join(', ')}`);
  }
  const transport = createTransportServer(tls, (socket) => cluster.accept(socket));
  await app.ready();
  const httpAddress = await listen(app.server, settings.number('http.port')!, bindHost(settings, 'http'), options.bound?.http);
  let transportAddress: AddressInfo;
  try {
    transportAddress = await listen(transport, settings.number('transport.port')!, bindHost(settings, 'transport'), options.bound?.transport);
  } catch (error) {
    await app.close();
    throw error;
  }
  const hostPort = (address: AddressInfo) => (address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`);
  info.httpAddress = hostPort(httpAddress);
  info.enrollmentAddresses = enrollmentAddresses({
    bindHost: httpAddress.address,
    publishHosts: [settings.string('network.publish_host'), settings.string('http.publish_host')].filter((host): host is string => host !== undefined),
    port: settings.number('http.publish_port') ?? httpAddress.port,
    certificate: new X509Certificate(tls.httpCertificatePem),
  });
  info.transportAddress = hostPort(transportAddress);
  info.nodesAddresses = enrollmentAddresses({ bindHost: transportAddress.address, publishHosts: [settings.string('network.publish_host')].filter((host): host is string => host !== undefined), port: transportAddress.port });
  cluster.start();
  await keeper?.start(app.server as Server, transport);
  if (options.dataDir) await writeNodeAddress(options.dataDir, httpAddress.port);
  logger.info({ event: 'node_started', http: info.httpAddress, transport: info.transportAddress, node: options.names?.node, cluster: options.names?.cluster }, 'node started');
  // Once the start's own first answers are out (100 ms), one per turn of the event loop, the validators no request
  // has compiled yet; unref'd, so that it never holds a node that closes.
  const warm = () => void warmValidators().catch((error: Error) => logger.warn({ event: 'validators_not_compiled', reason: error.message }, 'route validators could not be compiled ahead of requests'));
  setTimeout(warm, 100).unref();
  return {
    http: { host: httpAddress.address, port: httpAddress.port },
    transport: { host: transportAddress.address, port: transportAddress.port },
    enrollmentAddresses: info.enrollmentAddresses,
    app,
    async close() {
      keeper?.stop();
      await cluster.close();
      await new Promise<void>((resolve) => transport.close(() => resolve()));
      await app.close();
      if (options.dataDir) await removeNodeAddress(options.dataDir);
    },
  };
}

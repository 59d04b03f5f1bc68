import type { Server } from 'node:net';
import { autoConfigure, type AutoConfigureProgress, type AutoConfigureResult } from '../autoconfig/auto-configure.js';
import type { TlsFiles } from '../autoconfig/tls-files.js';
import type { ReceivedNodeEnrollment } from '../enrollment/node-enrollment.js';
import { bannerTokens } from '../enrollment/create-token.js';
import { SecurenodeError } from '../errors.js';
import { loadGatewayRoutes } from '../gateway/gateway.js';
import { checkModes } from '../home/check-modes.js';
import type { HomePaths } from '../home/layout.js';
import { Keystore } from '../keystore/keystore.js';
import { createAuditLog } from '../logging/audit.js';
import { createLogger } from '../logging/logger.js';
import { tokenHashKeySetting } from '../security/api-keys.js';
import { readBootstrapPassword } from '../security/bootstrap.js';
import { openStore } from '../security/open-store.js';
import { newOperatorKey, operatorKeySetting } from '../security/operator-token.js';
import type { SecurityStore } from '../security/store.js';
import type { Settings } from '../settings/settings.js';
import { resolveVaultReferences } from '../settings/vault/resolve.js';
import { isTerminal, terminalStyle } from './banner.js';
import { loadIdentity } from './data-dir.js';
import { prepareFirstUser, showFirstUser, type FirstStartIo } from './first-user.js';
import { decideRequest, type Decision, type RequestToDecide } from './in-process.js';
import { startNode, type RunningNode } from './server.js';
import { intermediateTls } from './tls-profile.js';
import { version as packageVersion } from '../version.js';

/** What startSecurenode needs; everything but the home has the CLI's defaults. */
export interface StartSecurenodeOptions {
  /** The node's home: config/, data/, logs/; made on the first start. */
  readonly home: string;
  /** node.name (default the host name): names the node in logs, certificates and the cluster. */
  readonly name?: string;
  /** key=value settings, as `-E`, over securenode.yml and the environment. */
  readonly settings?: readonly string[];
  /** Where SECURENODE_* settings, ELASTIC_PASSWORD and SECURENODE_KEYSTORE_PASSWORD are read; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** The keystore's password, when it has one; default SECURENODE_KEYSTORE_PASSWORD, else none. */
  readonly keystorePassword?: string;
  /** Where the first start's banner and the log lines go (default process.stdout), and its warnings (process.stderr). */
  readonly stdout?: FirstStartIo['stdout'];
  readonly stderr?: FirstStartIo['stderr'];
  /** Write the first-start credentials to this new file (0600) instead of the terminal. */
  readonly credentialsFile?: string;
  /** Join a cluster: the answer to an enrollment token (the CLI's --enrollment-token). */
  readonly enrollment?: () => Promise<ReceivedNodeEnrollment>;
  /** Ports bound before privileges were dropped. */
  readonly bound?: { readonly http: Server; readonly transport: Server };
  /** Each step of the first start, for a spinner. */
  readonly onProgress?: (step: AutoConfigureProgress) => void;
  /** What auto-configuration did, before anything else is said (the CLI reports a skip here). */
  readonly onAutoConfigured?: (result: AutoConfigureResult) => void;
  /** Run as root anyway (a container that cannot avoid it); refused otherwise, as `securenode start` refuses it. */
  readonly allowRoot?: boolean;
  /** The version the node reports; default the package's. */
  readonly version?: string;
}

/** A running securenode: the node, and what an embedding server uses of it. */
export interface Securenode extends RunningNode {
  readonly settings: Settings;
  readonly paths: HomePaths;
  readonly store: SecurityStore;
  readonly tls: TlsFiles;
  /** Options for node:https or Fastify({ https }): the node's HTTP certificate and key, TLS 1.2 or later. */
  readonly https: typeof intermediateTls & { readonly pfx: Buffer; readonly passphrase: string };
  /** Authenticate a request of the embedding server and decide it by RBAC endpoint rows on its path, in process, exactly as forward auth does. */
  decide(request: RequestToDecide): Promise<Decision>;
}

/** The node's own keys in the keystore (operator signing, token hashing), created on the first start that lacks them. */
async function ensureNodeKeys(result: AutoConfigureResult): Promise<{ operatorKey: Buffer; tokenHashKey: Buffer }> {
  const keystore = result.keystore ?? new Keystore();
  const missing = [operatorKeySetting, tokenHashKeySetting].filter((name) => !keystore.has(name));
  for (const name of missing) keystore.setString(name, newOperatorKey());
  if (missing.length > 0) await keystore.save(result.paths.keystoreFile, result.keystorePassword, result.settings.isSet('node.group') ? 0o640 : 0o600);
  const read = (name: string) => Buffer.from(keystore.getString(name)!, 'base64');
  return { operatorKey: read(operatorKeySetting), tokenHashKey: read(tokenHashKeySetting) };
}

/**
 * Start a securenode, as `securenode start` does: its first start secures the
 * home (CAs and certificates, keystore, settings, the elastic password shown
 * once at a terminal), later starts reuse it; then the store, the node's keys,
 * the first user, and the node on its HTTPS and transport ports, where the
 * tools (reset-password, create-enrollment-token, enroll) reach it. The home
 * stays locked until close().
 */
export async function startSecurenode(options: StartSecurenodeOptions): Promise<Securenode> {
  if (typeof options?.home !== 'string' || options.home.length === 0) throw new TypeError('startSecurenode needs { home }: the directory of the node\'s home');
  if (process.geteuid?.() === 0 && options.allowRoot !== true) {
    throw new SecurenodeError('ERR_ROOT', 'securenode must not run as root: a compromise of the server would then own the machine. Run it as a dedicated user, or pass { allowRoot: true } if a container leaves no choice');
  }
  const env = options.env ?? process.env;
  const io: FirstStartIo = { stdout: options.stdout ?? process.stdout, stderr: options.stderr ?? process.stderr, env };
  const terminal = isTerminal(io.stdout);
  const keystorePassword = options.keystorePassword ?? env['SECURENODE_KEYSTORE_PASSWORD'];
  const result = await autoConfigure({
    home: options.home,
    env,
    overrides: [...(options.name === undefined ? [] : [`node.name=${options.name}`]), ...(options.settings ?? [])],
    keepLock: true,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(keystorePassword === undefined ? {} : { keystorePassword }),
    ...(options.enrollment ? { enrollment: options.enrollment } : {}),
  });
  options.onAutoConfigured?.(result);
  const releaseLock = result.releaseLock!;
  let store: SecurityStore | undefined;
  try {
    if (!result.tls) {
      throw new SecurenodeError(
        'ERR_TLS_MATERIAL',
        `HTTP TLS is not configured in ${result.paths.configFile} (security.http.ssl.enabled with keystore.path), and securenode never serves plaintext; remove security.* settings from a new node to have it configured automatically`,
      );
    }
    const tls = result.tls;
    // Readable lines on a terminal, JSON lines for whatever reads a redirected output; the log file is JSON lines always.
    const format = (result.settings.string('logger.format') as 'json' | 'text' | undefined) ?? (terminal ? 'text' : 'json');
    const logger = await createLogger(result.paths.logsDir, { stdout: io.stdout, level: result.settings.string('logger.level')!, format, color: terminal && terminalStyle(io.stdout, env).color });
    if (result.kind === 'configured') {
      logger.info({ event: 'autoconfiguration', certs: result.paths.certsDir, recovery: result.recovery }, 'security auto-configuration generated the TLS certificates and updated securenode.yml');
      if (result.joined) logger.info({ event: 'enrolled', node: result.joined.address }, `joined the cluster of the node at ${result.joined.address}: its HTTP CA signed this node's HTTP certificate, and the transport certificate is the cluster's`);
    } else if (result.recovery !== 'none') {
      logger.info({ event: 'autoconfiguration_recovery', recovery: result.recovery }, 'finished an interrupted security auto-configuration');
    }
    // A node that joined a cluster gets no elastic user and shows no banner: its cluster has both (Elasticsearch does the same).
    const joined = result.kind === 'configured' ? result.joined : undefined;
    const identity = await loadIdentity(result.paths.dataDir, joined?.clusterUuid);
    const references = { raw: result.rawSettings, resolve: (raw: Settings) => resolveVaultReferences(raw, { env }) };
    const opened = await openStore(result.settings, { dataDir: result.paths.dataDir, clusterUuid: identity.clusterUuid, claim: true, logger, references });
    store = opened;
    const where = opened.describe();
    if (where) logger.info({ event: 'security_store', type: 'postgres' }, `the security store is the ${where}`);
    await checkModes(result.paths, { group: result.settings.isSet('node.group') });
    const firstUser = {
      io, terminal, store: opened, tls, paths: result.paths, logger,
      bootstrap: await readBootstrapPassword(env, result.keystore),
      credentialsFile: options.credentialsFile,
      console: result.settings.bool('console.enabled') !== false,
    };
    const plan = joined ? ({ kind: 'none' } as const) : await prepareFirstUser(firstUser);
    const keys = await ensureNodeKeys(result);
    // A database is shared by every node, and so are its API keys: the key that hashes them is the database's.
    const tokenHashKey = opened.sharedTokenHashKey ?? keys.tokenHashKey;
    // Names as written: a name that is a vault reference is logged as the reference.
    const names = { node: result.rawSettings.string('node.name')!, cluster: result.rawSettings.string('cluster.name')! };
    const audit = await createAuditLog(result.paths.logsDir);
    const gateway = await loadGatewayRoutes(result.settings, result.paths.configDir);
    const version = options.version ?? packageVersion;
    const node = await startNode({ configDir: result.paths.configDir, gateway, settings: result.settings, tls, store: opened, identity, logger, audit, version, names, operatorKey: keys.operatorKey, tokenHashKey, dataDir: result.paths.dataDir, ...(options.bound ? { bound: options.bound } : {}) });
    if (options.bound) logger.info({ event: 'privileges_dropped', user: process.geteuid?.(), group: process.getegid?.() }, `bound the ports as root, then dropped to uid ${process.geteuid?.()} before reading any secret`);
    try {
      await showFirstUser(firstUser, plan, node.http.port, async () =>
        result.settings.bool('security.enrollment.enabled') === true
          ? bannerTokens({
              store: opened, hashKey: tokenHashKey, addresses: node.enrollmentAddresses, fingerprint: tls.httpCaFingerprint, version, ttlMs: 30 * 60_000, creator: '_local_operator',
              httpHost: node.http.host, transportHost: node.transport.host,
            })
          : {},
      );
    } catch (error) {
      await node.close();
      throw error;
    }
    let closing: Promise<void> | undefined;
    return {
      ...node,
      settings: result.settings,
      paths: result.paths,
      store: opened,
      tls,
      https: { pfx: tls.httpP12, passphrase: tls.httpP12Password, ...intermediateTls },
      decide: (request) => decideRequest(node.app, request),
      close: () =>
        (closing ??= (async () => {
          logger.info({ event: 'node_stopping' }, 'stopping');
          try {
            await node.close();
          } finally {
            try {
              await opened.close();
            } finally {
              await releaseLock();
            }
          }
        })()),
    };
  } catch (error) {
    try {
      await store?.close();
    } finally {
      await releaseLock();
    }
    throw error;
  }
}


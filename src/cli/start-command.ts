import { stat } from 'node:fs/promises';
import { pathExists } from '../io/atomic-write.js';
import type { Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import ora, { type Ora } from 'ora';
import { autoConfigure, type AutoConfigureProgress, type AutoConfigureResult } from '../autoconfig/auto-configure.js';
import { SecurenodeError } from '../errors.js';
import { homePaths, resolveHome } from '../home/layout.js';
import { Keystore } from '../keystore/keystore.js';
import { createLogger } from '../logging/logger.js';
import { createAuditLog } from '../logging/audit.js';
import { loadIdentity } from '../node/data-dir.js';
import { newOperatorKey, operatorKeySetting } from '../security/operator-token.js';
import { tokenHashKeySetting } from '../security/api-keys.js';
import { bannerTokens } from '../enrollment/create-token.js';
import { fetchNodeEnrollment, type ReceivedNodeEnrollment } from '../enrollment/node-enrollment.js';
import { decodeEnrollmentToken } from '../enrollment/token.js';
import { bindPort, dropPrivileges, userName } from '../node/privileges.js';
import { bindHost, startNode } from '../node/server.js';
import { loadGatewayRoutes } from '../gateway/gateway.js';
import { loadSettingsIfAny } from '../settings/load.js';
import { checkModes } from '../home/check-modes.js';
import { readBootstrapPassword } from '../security/bootstrap.js';
import { openStore } from '../security/open-store.js';
import { isAnyHttpHostSet } from '../preflight/checks.js';
import { isTerminal, terminalStyle } from './banner.js';
import { prepareFirstUser, showFirstUser } from './first-user.js';
import type { CliIo } from './io.js';
import { keystorePasswordVariable, openKeystore } from './keystore-password.js';
import { renderSettingsHelp } from './help-settings.js';
import { enrollmentTokenFrom, enrollmentTokenVariable } from './enrollment-token-source.js';
import { commandAsUser, shellWord } from '../home/command-hint.js';
import { resolveVaultReferences } from '../settings/vault/resolve.js';
import type { Settings } from '../settings/settings.js';

interface StartOptions {
  home?: string;
  credentialsFile?: string;
  setting: string[];
  verbose?: boolean;
  allowRoot?: boolean;
  enrollmentToken?: string;
  enrollmentTokenFile?: string;
}

const progressText: Record<AutoConfigureProgress, string> = {
  checking: 'Checking whether this node starts for the first time',
  enrolling: 'Reaching the cluster with the enrollment token',
  'generating-keys': 'Generating the CAs, TLS certificates and keys',
  'writing-configuration': 'Writing the certificates, keystore and securenode.yml',
};

/** The line a skipped auto-configuration is reported with (73 and 78 always, 80 with -v). */
export function skipMessage(result: Extract<AutoConfigureResult, { kind: 'skipped' }>): string {
  return `Skipping security auto-configuration because ${result.finding.reason}`;
}

/** Register `securenode start`. */
export function registerStartCommand(program: Command, io: CliIo, done: (code: number) => void, version: string): void {
  program
    .command('start')
    .description('start a node; its first start secures it (TLS, keystore, elastic password)')
    .option('--home <dir>', 'the node home (default: $SECURENODE_HOME, else ./securenode-home)')
    .option('-E, --setting <key=value>', 'a setting, overriding securenode.yml and the environment (repeatable)', (value: string, all: string[]) => [...all, value], [])
    .option('-v, --verbose', 'also report why auto-configuration was skipped on a node that is not new')
    .option('--credentials-file <path>', 'write the first-start credentials to this new file (mode 0600) instead of the terminal')
    .option('--enrollment-token <token>', `join the cluster of the node that created this token (securenode create-enrollment-token -s node); the home must be new. '-' reads it from standard input; so does ${enrollmentTokenVariable} from the environment`)
    .option('--enrollment-token-file <path>', 'read the enrollment token from this file')
    .option('--allow-root', 'run as root anyway (containers that cannot avoid it); warned at every start')
    // --help-settings is the program's option, taken after `start` too: it lists the settings and starts nothing.
    .action(async (options: StartOptions, command: Command) => {
      if ((command.optsWithGlobals() as { helpSettings?: boolean }).helpSettings) {
        io.stdout.write(renderSettingsHelp());
        return done(0);
      }
      done(await runStart(options, io, version));
    });
}

/** The keystore password, found as every tool finds it (the environment, none, or the terminal); none without a keystore. */
async function keystorePasswordFor(io: CliIo, keystoreFile: string): Promise<string | undefined> {
  if (!(await Keystore.exists(keystoreFile))) return io.env[keystorePasswordVariable];
  return (await openKeystore(io, keystoreFile)).password;
}

async function runStart(options: StartOptions, io: CliIo, version: string): Promise<number> {
  const home = resolveHome(options.home, io.env);
  const bound = await handleRoot(options, io, home);
  // Listen for stop signals before anything else, so that a signal at any instant stops the node cleanly.
  const stopSignal = listenForStopSignal();
  const terminal = isTerminal(io.stdout);
  await checkConfigDirOwner(homePaths(home).configDir);
  if (options.credentialsFile) {
    options.credentialsFile = resolve(options.credentialsFile);
    if (await pathExists(options.credentialsFile)) {
      throw new SecurenodeError('ERR_CANT_CREATE', `the credentials file ${options.credentialsFile} already exists; securenode never overwrites one: move it away or name a new file`);
    }
  }
  const enrollmentToken = await enrollmentTokenFrom(options, io, () => pathExists(join(homePaths(home).dataDir, 'node.json')));
  const enrollment = enrollmentToken === undefined ? undefined : await prepareEnrollment(enrollmentToken, home);
  const keystorePassword = await keystorePasswordFor(io, homePaths(home).keystoreFile);
  // ora loops forever on a terminal of 0 columns; `terminal` already requires a width.
  const spinner: Ora | undefined = terminal ? ora({ stream: io.stdout, text: progressText.checking, isEnabled: true }).start() : undefined;
  let result: AutoConfigureResult;
  try {
    result = await autoConfigure({
      home,
      env: io.env,
      overrides: options.setting,
      keepLock: true,
      onProgress: (step) => {
        if (spinner) spinner.text = progressText[step];
      },
      ...(keystorePassword === undefined ? {} : { keystorePassword }),
      ...(enrollment ? { enrollment } : {}),
    });
  } finally {
    spinner?.stop();
  }
  const releaseLock = result.releaseLock!;
  // A terminal that disappears must not crash the node on its next log line; the log file keeps them.
  io.stdout.on('error', () => {});
  try {
    if (result.kind === 'skipped' && (result.finding.exitCode !== 80 || options.verbose)) io.stderr.write(`${skipMessage(result)}\n`);
    if (!result.tls) {
      throw new SecurenodeError(
        'ERR_TLS_MATERIAL',
        `HTTP TLS is not configured in ${result.paths.configFile} (security.http.ssl.enabled with keystore.path), and securenode never serves plaintext; remove security.* settings from a new node to have it configured automatically`,
      );
    }
    // Readable lines on a terminal, JSON lines for whatever reads a redirected output; the log file is JSON lines always.
    const format = (result.settings.string('logger.format') as 'json' | 'text' | undefined) ?? (terminal ? 'text' : 'json');
    const logger = await createLogger(result.paths.logsDir, { stdout: io.stdout, level: result.settings.string('logger.level')!, format, color: terminal && terminalStyle(io.stdout, io.env).color });
    if (result.kind === 'configured') {
      logger.info({ event: 'autoconfiguration', certs: result.paths.certsDir, recovery: result.recovery }, 'security auto-configuration generated the TLS certificates and updated securenode.yml');
      if (result.joined) logger.info({ event: 'enrolled', node: result.joined.address }, `joined the cluster of the node at ${result.joined.address}: its HTTP CA signed this node's HTTP certificate, and the transport certificate is the cluster's`);
    } else if (result.recovery !== 'none') {
      logger.info({ event: 'autoconfiguration_recovery', recovery: result.recovery }, 'finished an interrupted security auto-configuration');
    }
    // A node that joined a cluster gets no elastic user and shows no banner: its cluster has both (Elasticsearch does the same).
    const joined = result.kind === 'configured' ? result.joined : undefined;
    const identity = await loadIdentity(result.paths.dataDir, joined?.clusterUuid);
    const references = { raw: result.rawSettings, resolve: (raw: Settings) => resolveVaultReferences(raw, { env: io.env }) };
    const store = await openStore(result.settings, { dataDir: result.paths.dataDir, clusterUuid: identity.clusterUuid, claim: true, logger, references });
    const where = store.describe();
    if (where) logger.info({ event: 'security_store', type: 'postgres' }, `the security store is the ${where}`);
    try {
      await checkModes(result.paths, { group: result.settings.isSet('node.group') });
      const firstUser = {
        io, terminal, store, tls: result.tls, paths: result.paths, logger,
        bootstrap: await readBootstrapPassword(io.env, result.keystore),
        credentialsFile: options.credentialsFile,
        console: result.settings.bool('console.enabled') !== false,
      };
      const plan = joined ? ({ kind: 'none' } as const) : await prepareFirstUser(firstUser);
      const keys = await ensureNodeKeys(result);
      // A database is shared by every node, and so are its API keys: the key that hashes them is the database's.
      const tokenHashKey = store.sharedTokenHashKey ?? keys.tokenHashKey;
      // Names as written: a name that is a vault reference is logged as the reference.
      const names = { node: result.rawSettings.string('node.name')!, cluster: result.rawSettings.string('cluster.name')! };
      const audit = await createAuditLog(result.paths.logsDir);
      const gateway = await loadGatewayRoutes(result.settings, result.paths.configDir);
      const node = await startNode({ gateway, settings: result.settings, tls: result.tls, store, identity, logger, audit, version, names, operatorKey: keys.operatorKey, tokenHashKey, dataDir: result.paths.dataDir, ...(bound ? { bound } : {}) });
      if (bound) logger.info({ event: 'privileges_dropped', user: process.geteuid?.(), group: process.getegid?.() }, `bound the ports as root, then dropped to uid ${process.geteuid?.()} before reading any secret`);
      await showFirstUser(firstUser, plan, node.http.port, async () =>
        result.settings.bool('security.enrollment.enabled') === true
          ? bannerTokens({
              store, hashKey: tokenHashKey, addresses: node.enrollmentAddresses, fingerprint: result.tls!.httpCaFingerprint, version, ttlMs: 30 * 60_000, creator: '_local_operator',
              httpHost: node.http.host, transportHost: node.transport.host,
            })
          : {},
      );
      await stopSignal;
      logger.info({ event: 'node_stopping' }, 'stopping');
      await node.close();
    } finally {
      await store.close();
    }
    return 0;
  } finally {
    await releaseLock();
  }
}

/**
 * The token is checked first (65 when malformed); the cluster is asked once,
 * and, for a home that does not exist yet, before the home is created, so that
 * a cluster out of reach leaves nothing behind.
 */
async function prepareEnrollment(text: string, home: string): Promise<() => Promise<ReceivedNodeEnrollment>> {
  const token = decodeEnrollmentToken(text);
  let answer: Promise<ReceivedNodeEnrollment> | undefined;
  const enrollment = (): Promise<ReceivedNodeEnrollment> => (answer ??= fetchNodeEnrollment(token));
  if (!(await pathExists(home))) await enrollment();
  return enrollment;
}

function listenForStopSignal(): Promise<void> {
  return new Promise((resolve) => {
    // SIGHUP: the terminal went away. The handlers stay installed while the node
    // shuts down, so that a second signal (the hang-up that follows a closing
    // terminal) cannot kill it before it releases the home's lock.
    for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(name, () => resolve());
  });
}

/**
 * Root is refused (SPEC 9), unless node.user is set: then the node binds its
 * ports as root and becomes that user before it reads any secret. --allow-root
 * runs as root anyway, with a warning at every start.
 */
async function handleRoot(options: StartOptions, io: CliIo, home: string): Promise<{ http: Server; transport: Server } | undefined> {
  if (process.geteuid?.() !== 0) return undefined;
  const settings = await loadSettingsIfAny({ configFile: homePaths(home).configFile, env: io.env, overrides: options.setting });
  const user = settings.string('node.user');
  if (user) {
    // A home that looks new will get `http.host: 0.0.0.0` from auto-configuration: bind as it will be configured.
    const looksNew = !isAnyHttpHostSet(settings) && !settings.isSet('security.enabled') && !settings.isAnySetUnder('security.http.ssl') && !settings.isAnySetUnder('security.transport.ssl');
    const bound = {
      http: await bindPort(settings.number('http.port')!, looksNew ? '0.0.0.0' : bindHost(settings, 'http')),
      transport: await bindPort(settings.number('transport.port')!, bindHost(settings, 'transport')),
    };
    dropPrivileges(user, settings.string('node.group'));
    return bound;
  }
  if (!options.allowRoot) {
    throw new SecurenodeError(
      'ERR_ROOT',
      `securenode must not run as root: a compromise of the node would then own the machine. Create a dedicated user (useradd --system securenode), give it the home (install -d -o securenode -m 750 ${shellWord(home)}) and start the node as that user (${commandAsUser('securenode', 'start', home)}), set node.user to have it drop to that user after binding its ports, or pass --allow-root if a container leaves no choice`,
    );
  }
  io.stderr.write('WARNING: securenode is running as root (--allow-root); run it as a dedicated user instead, or set node.user\n');
  return undefined;
}

/** A config dir that belongs to another user than the one running is refused, naming both. */
async function checkConfigDirOwner(configDir: string): Promise<void> {
  // A home closed to this user hides its config dir: then the home's owner is the one to name.
  const owner = await stat(configDir).then((info) => info.uid, () => stat(dirname(configDir)).then((info) => info.uid, () => undefined));
  const me = process.geteuid?.();
  if (owner === undefined || me === undefined || owner === me) return;
  const [ownerName, myName] = [userName(owner), userName(me)];
  const home = dirname(configDir);
  const giveIt = `give the home to ${myName} (chown -R ${myName} ${shellWord(home)})`;
  // securenode never runs as root: a root-owned home is given away, never started as its owner.
  const startAsOwner = owner === 0 ? 'securenode never runs as root, so ' : `start it as ${ownerName} (${commandAsUser(ownerName, 'start', home)}), or `;
  throw new SecurenodeError('ERR_CONFIG_OWNER', `the config dir ${configDir} is owned by ${ownerName} (uid ${owner}), but securenode runs as ${myName} (uid ${me}); ${startAsOwner}${giveIt}`);
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

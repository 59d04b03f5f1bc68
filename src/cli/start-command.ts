import { stat } from 'node:fs/promises';
import { pathExists } from '../io/atomic-write.js';
import { boundHeapGrowth } from '../io/heap.js';
import type { Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Ora } from 'ora';
import type { AutoConfigureProgress, AutoConfigureResult } from '../autoconfig/auto-configure.js';
import { SecurenodeError } from '../errors.js';
import { homePaths, resolveHome } from '../home/layout.js';
import { Keystore } from '../keystore/keystore.js';
import { fetchNodeEnrollment, type ReceivedNodeEnrollment } from '../enrollment/node-enrollment.js';
import { decodeEnrollmentToken } from '../enrollment/token.js';
import { bindPort, dropPrivileges, userName } from '../node/privileges.js';
import { bindHost } from '../node/server.js';
import { startSecurenode, type Securenode } from '../node/start-securenode.js';
import { loadSettingsIfAny } from '../settings/load.js';
import { isAnyHttpHostSet } from '../preflight/checks.js';
import { isTerminal } from '../node/banner.js';
import type { CliIo } from './io.js';
import { keystorePasswordVariable, openKeystore } from './keystore-password.js';
import { renderSettingsHelp } from './help-settings.js';
import { enrollmentTokenFrom, enrollmentTokenVariable } from './enrollment-token-source.js';
import { commandAsUser, shellWord } from '../home/command-hint.js';

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
  // Before the store is read: its load is the first full collection the bound applies to.
  boundHeapGrowth();
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
  // ora loops forever on a terminal of 0 columns; `terminal` already requires a width. Loaded only for a terminal:
  // ora and its chalk and string-width cost a redirected start (a service, a container) ~25 ms for nothing.
  const spinner: Ora | undefined = terminal ? (await import('ora')).default({ stream: io.stdout, text: progressText.checking, isEnabled: true }).start() : undefined;
  let node: Securenode;
  try {
    node = await startSecurenode({
      home,
      env: io.env,
      settings: options.setting,
      stdout: io.stdout,
      stderr: io.stderr,
      version,
      // Root got this far only with --allow-root: the node warned already.
      allowRoot: true,
      ...(keystorePassword === undefined ? {} : { keystorePassword }),
      ...(enrollment ? { enrollment } : {}),
      ...(options.credentialsFile ? { credentialsFile: options.credentialsFile } : {}),
      ...(bound ? { bound } : {}),
      onProgress: (step) => {
        if (spinner) spinner.text = progressText[step];
      },
      onAutoConfigured: (result) => {
        spinner?.stop();
        // A terminal that disappears must not crash the node on its next log line; the log file keeps them.
        io.stdout.on('error', () => {});
        if (result.kind === 'skipped' && (result.finding.exitCode !== 80 || options.verbose)) io.stderr.write(`${skipMessage(result)}\n`);
      },
    });
  } finally {
    spinner?.stop();
  }
  await stopSignal;
  await node.close();
  return 0;
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

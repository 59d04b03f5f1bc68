import type { Logger } from 'pino';
import type { TlsFiles } from '../autoconfig/tls-files.js';
import { SecurenodeError } from '../errors.js';
import type { HomePaths } from '../home/layout.js';
import { writeNewFile } from '../io/atomic-write.js';
import { checkBootstrapPassword, type BootstrapPassword } from '../security/bootstrap.js';
import type { SecurityStore } from '../security/store.js';
import { generatePassword, hashPassword, verifyPassword } from '../security/password.js';
import { superuserName } from '../security/superuser.js';
import type { BannerTokens } from '../enrollment/create-token.js';
import { renderBanner, terminalStyle, type BannerContent } from './banner.js';
import { isPasswordUnseen, markPasswordSeen, markPasswordUnseen } from './unseen-password.js';
import { commandHint } from '../home/command-hint.js';

/** Where the first start speaks: the banner to stdout (a terminal), warnings to stderr; env for the command hints. */
export interface FirstStartIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
}

/** What the first-user steps need. */
export interface FirstUserContext {
  readonly io: FirstStartIo;
  readonly terminal: boolean;
  readonly store: SecurityStore;
  readonly tls: TlsFiles;
  readonly paths: HomePaths;
  readonly logger: Logger;
  readonly bootstrap: BootstrapPassword | undefined;
  readonly credentialsFile: string | undefined;
  /** Whether the node serves its console (console.enabled): the banner names it. */
  readonly console?: boolean;
}

/** What the step before the node starts decided; the step after it shows it. */
export type FirstUserPlan = { readonly kind: 'none' } | { readonly kind: 'show'; readonly password: BannerContent['password'] };

async function writeCredentialsFile(path: string, content: string): Promise<void> {
  try {
    await writeNewFile(path, content, 0o600);
  } catch (error) {
    throw new SecurenodeError('ERR_CANT_CREATE', `cannot create the credentials file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}; securenode never overwrites one`);
  }
}

/** Store the elastic user; `unseenIn` marks a password that is yet to be shown (the banner window). */
async function storeSuperuser(store: SecurityStore, password: string, unseenIn?: string): Promise<void> {
  const passwordHash = await hashPassword(password);
  if (unseenIn) await markPasswordUnseen(unseenIn, passwordHash);
  await store.putUser({ username: superuserName, passwordHash, roles: ['superuser'], enabled: true });
}

/**
 * Before the node listens. An empty store (the first start of a new cluster)
 * gets the elastic user with the bootstrap password when one is given (refused
 * under 12 characters); a generated password is planned for the terminal or
 * --credentials-file; without either, elastic is stored without a usable
 * password (it is reserved and always exists). A later start gives a bootstrap
 * password to an elastic that has none, and otherwise ignores it, saying so
 * without its value.
 */
export async function prepareFirstUser(context: FirstUserContext): Promise<FirstUserPlan> {
  const { store, logger, bootstrap, credentialsFile } = context;
  if (!store.isEmpty()) {
    const elastic = store.getUser(superuserName);
    if (await isPasswordUnseen(context.paths.dataDir, elastic?.passwordHash)) {
      const fix = commandHint(`reset-password -u ${superuserName}`, context.paths.home, context.io.env);
      logger.warn({ event: 'elastic_password_unseen' }, `the first start stopped after it stored the elastic user's password and before it showed it: nobody may have seen it; run \`${fix}\` to set a new one`);
      context.io.stderr.write(`WARNING: the first start of this node stopped after it stored the password of the elastic user and before it showed it, so nobody may have seen it. Set a new one with:\n  ${fix}\n`);
    }
    // The reserved user without a password yet (a first start without a terminal): a bootstrap password gives it one, as Elasticsearch's does.
    if (elastic && elastic.passwordHash === '') {
      if (bootstrap) {
        checkBootstrapPassword(bootstrap);
        const passwordHash = await hashPassword(bootstrap.password);
        await store.mutate((data) => {
          const current = data.users[superuserName];
          return current?.passwordHash === '' ? { ops: [{ op: 'putUser', user: { ...current, passwordHash } }], result: undefined } : { ops: [], result: undefined };
        });
        logger.info({ event: 'bootstrap_password_applied', source: bootstrap.source }, `the elastic user had no password yet; it was given the bootstrap password from ${bootstrap.source}`);
        return { kind: 'none' };
      }
      logger.warn({ event: 'elastic_password_unset' }, `the elastic user has no password yet; run \`${commandHint('reset-password -u elastic', context.paths.home, context.io.env)}\` to set one`);
    }
    if (bootstrap && elastic && elastic.passwordHash !== '' && !(await verifyPassword(elastic.passwordHash, bootstrap.password))) {
      logger.info({ event: 'bootstrap_password_ignored', source: bootstrap.source }, `the bootstrap password from ${bootstrap.source} was ignored: it applies only to an empty security store, and the elastic user exists; use \`${commandHint('reset-password -u elastic', context.paths.home, context.io.env)}\` to change it`);
    }
    if (credentialsFile) logger.info({ event: 'credentials_file_unused', path: credentialsFile }, 'not the first start of a new cluster: nothing was written to the credentials file');
    return { kind: 'none' };
  }
  if (bootstrap) {
    checkBootstrapPassword(bootstrap);
    await storeSuperuser(store, bootstrap.password);
    logger.info({ event: 'bootstrap_password_applied', source: bootstrap.source }, `the elastic user was created with the bootstrap password from ${bootstrap.source}`);
    return { kind: 'show', password: { kind: 'given', source: bootstrap.source } };
  }
  if (context.terminal || credentialsFile) return { kind: 'show', password: { kind: 'generated', value: generatePassword() } };
  // elastic is reserved and always exists (as in Elasticsearch): here without a usable password, until reset-password gives it one.
  await store.putUser({ username: superuserName, passwordHash: '', roles: ['superuser'], enabled: true });
  logger.info(
    { event: 'no_terminal' },
    `Auto-configuration will not generate a password for the elastic user, as no terminal is attached to the securenode process (stdout is redirected, piped or has no width). Run \`${commandHint('reset-password -u elastic', context.paths.home, context.io.env)}\` to set one, and \`${commandHint('create-enrollment-token -s client', context.paths.home, context.io.env)}\` to create an enrollment token.`,
  );
  return { kind: 'none' };
}

/**
 * Once the node listens: store a generated password and show the first-start
 * credentials, to --credentials-file (written first, so that a password is
 * stored only once it has somewhere to go) or to the terminal, never both and
 * never elsewhere. Generated after listening, a password is never lost to a
 * node that failed to start.
 */
export async function showFirstUser(context: FirstUserContext, plan: FirstUserPlan, port: number, enrollmentTokens: () => Promise<BannerTokens>): Promise<void> {
  if (plan.kind === 'none') return;
  const { io, store, logger, credentialsFile } = context;
  const { password } = plan;
  const tokens = await enrollmentTokens();
  const content: BannerContent = { home: context.paths.home, password, fingerprint: context.tls.httpCaFingerprint, caPath: `${context.paths.certsDir}/http_ca.crt`, configFile: context.paths.configFile, port, console: context.console ?? false, ...tokens };
  if (credentialsFile) {
    await writeCredentialsFile(credentialsFile, `${renderBanner(content, { columns: 80, utf8: false, color: false }).trim()}\n`);
    if (password.kind === 'generated') await storeSuperuser(store, password.value);
    logger.info({ event: 'credentials_file_written', path: credentialsFile }, `the first-start credentials were written to ${credentialsFile} (mode 0600)`);
    if (context.terminal) io.stdout.write(`\nThe elastic password and the HTTP CA fingerprint were written to ${credentialsFile} (mode 0600).\n`);
    return;
  }
  if (!context.terminal) return;
  if (password.kind === 'generated') await storeSuperuser(store, password.value, context.paths.dataDir);
  const banner = renderBanner(content, terminalStyle(io.stdout, io.env));
  await new Promise<void>((resolve, reject) => io.stdout.write(banner, (error) => (error ? reject(error) : resolve())));
  await markPasswordSeen(context.paths.dataDir);
}

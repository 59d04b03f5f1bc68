import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ExitCode, SecurenodeError } from '../errors.js';
import { renderSettingsHelp } from './help-settings.js';
import { processIo, type CliIo } from './io.js';
import { editDistance, nearest } from '../settings/nearest.js';
import { shellWord } from '../home/command-hint.js';
import { version } from '../version.js';

/** The package version, shown by --version and in the node's answers. */
export { version };

type Register = (program: Command, io: CliIo, done: (code: number) => void, version: string) => void;

/**
 * Each command's module, loaded only when that command runs: `keystore list`
 * need not load the node's server, PostgreSQL client and spinner. Help and an
 * unknown word load them all, to list them.
 */
const commandModules: readonly { readonly names: readonly string[]; readonly load: () => Promise<Register> }[] = [
  { names: ['start'], load: async () => (await import('./start-command.js')).registerStartCommand },
  { names: ['keystore'], load: async () => (await import('./keystore-command.js')).registerKeystoreCommands },
  { names: ['reset-password'], load: async () => (await import('./reset-password-command.js')).registerResetPasswordCommand },
  { names: ['create-enrollment-token', 'enroll'], load: async () => (await import('./enrollment-commands.js')).registerEnrollmentCommands },
  { names: ['migrations'], load: async () => (await import('./migrations-command.js')).registerMigrationsCommand },
  { names: ['vault'], load: async () => (await import('./vault-command.js')).registerVaultCommand },
  { names: ['certs'], load: async () => (await import('./certs-command.js')).registerCertsCommands },
];

/** Every command word. bin/securenode runs all but `start` from the tools' bundle, and lists them again (a test holds the two equal). */
export const commandNames: readonly string[] = commandModules.flatMap((module) => module.names);

/**
 * Run the securenode command line and return its exit code. It never calls
 * process.exit: bin/securenode sets process.exitCode from the result.
 */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const done = (code: number): void => {
    exitCode = code;
  };
  const program = new Command('securenode')
    .description('secure on first start: TLS, keystore, superuser and enrollment for a self-hosted node')
    .version(version)
    .option('--help-settings', 'list every setting with its type, default and description')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    })
    .action((options: { helpSettings?: boolean }) => {
      if (options.helpSettings) {
        io.stdout.write(renderSettingsHelp());
        return;
      }
      program.help({ error: true });
    });
  // As git does: `help <command>` is that command's --help; a word that is no command is said so, with the nearest one.
  const [first, second] = argv;
  if (first === 'help') argv = second === undefined ? ['--help'] : [second, '--help', ...argv.slice(2)];
  const word = argv[0];
  const named = commandModules.filter((module) => word !== undefined && module.names.includes(word));
  // --version needs no command: loading them all (the node's server among them) took 0.45 s against 0.14 s.
  const versionOnly = argv.length === 1 && (word === '--version' || word === '-V');
  for (const register of await Promise.all((named.length > 0 || versionOnly ? named : commandModules).map((module) => module.load()))) register(program, io, done, version);
  for (const command of program.commands) command.exitOverride();
  if (word !== undefined && !word.startsWith('-') && !commandNames.includes(word)) {
    const similar = nearest(word, commandNames);
    const hint = similar !== undefined && editDistance(word, similar) <= 2 ? `\n\nThe most similar command is\n\t${similar}` : '';
    io.stderr.write(`securenode: '${word}' is not a command. See 'securenode --help'.${hint}\n`);
    return ExitCode.usage;
  }

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, io);
  }
}

/** Map an error to its exit code and say what happened, in one line, never with a stack trace. */
function reportError(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    // Commander already printed its message; help and --version are successes.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) return ExitCode.ok;
    if (error.code === 'commander.help') return ExitCode.usage;
    return ExitCode.usage;
  }
  if (error instanceof SecurenodeError) {
    io.stderr.write(`ERROR: ${error.message}\n`);
    return error.exitCode;
  }
  // A file or directory this user may not touch (a config dir of mode 0000, say) is a fixable setup, not a crash.
  const denied = error as NodeJS.ErrnoException;
  if ((denied.code === 'EACCES' || denied.code === 'EPERM') && typeof denied.path === 'string') {
    const user = userInfo();
    io.stderr.write(
      `ERROR: securenode, running as ${user.username} (uid ${user.uid}), may not access ${denied.path} (${denied.code}); give that user access to it and to the directories above it (a home's directories are 0750, its files 0640 or 0600, all owned by the node's user), for example: chmod u+rwx ${shellWord(dirname(denied.path))}\n`,
    );
    return ExitCode.config;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`ERROR: unexpected failure: ${message}\n`);
  return ExitCode.unexpected;
}

import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ExitCode, SecurenodeError } from '../errors.js';
import { renderSettingsHelp } from './help-settings.js';
import { processIo, type CliIo } from './io.js';
import { registerKeystoreCommands } from './keystore-command.js';
import { registerEnrollmentCommands } from './enrollment-commands.js';
import { registerResetPasswordCommand } from './reset-password-command.js';
import { registerStartCommand } from './start-command.js';
import { registerMigrationsCommand } from './migrations-command.js';
import { registerVaultCommand } from './vault-command.js';
import { editDistance, nearest } from '../settings/nearest.js';
import { shellWord } from '../home/command-hint.js';

/** The package version, shown by --version and in the node's answers. */
export const version = '0.1.0';

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
  registerStartCommand(program, io, done, version);
  registerKeystoreCommands(program, io, done);
  registerResetPasswordCommand(program, io, done);
  registerEnrollmentCommands(program, io, done);
  registerMigrationsCommand(program, io, done);
  registerVaultCommand(program, io, done);
  for (const command of program.commands) command.exitOverride();

  // As git does: `help <command>` is that command's --help; a word that is no command is said so, with the nearest one.
  const names = program.commands.map((command) => command.name());
  const [first, second] = argv;
  if (first === 'help') argv = second === undefined ? ['--help'] : [second, '--help', ...argv.slice(2)];
  const word = argv[0];
  if (word !== undefined && !word.startsWith('-') && !names.includes(word)) {
    const similar = nearest(word, names);
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

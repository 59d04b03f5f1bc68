import { readFile } from 'node:fs/promises';
import { SecurenodeError } from '../errors.js';
import { readStdinLine, type CliIo } from './io.js';

/** The environment variable a joining node takes its enrollment token from. */
export const enrollmentTokenVariable = 'SECURENODE_ENROLLMENT_TOKEN';

/** How `securenode start` may be given a node enrollment token. */
export interface EnrollmentTokenOptions {
  enrollmentToken?: string;
  enrollmentTokenFile?: string;
}

/**
 * A joining node's enrollment token, from the one place it was given:
 * `--enrollment-token -` (standard input), `--enrollment-token-file`, the
 * environment, or `--enrollment-token TOKEN`, which is warned about (every
 * user of the machine reads it in ps) and then wiped from the process's
 * command line. The environment's token is for the first start only, so
 * that a service keeps its environment across restarts. Undefined when none
 * was given.
 */
export async function enrollmentTokenFrom(options: EnrollmentTokenOptions, io: CliIo, hasStarted: () => Promise<boolean>): Promise<string | undefined> {
  const fromEnv = io.env[enrollmentTokenVariable];
  const given = [options.enrollmentToken !== undefined, options.enrollmentTokenFile !== undefined, fromEnv !== undefined && fromEnv !== ''].filter(Boolean).length;
  if (given > 1) throw new SecurenodeError('ERR_USAGE', `give the enrollment token one way only: --enrollment-token, --enrollment-token-file or ${enrollmentTokenVariable}`);
  if (options.enrollmentToken === '-') return (await readStdinLine(io, 'the enrollment token')).trim();
  if (options.enrollmentTokenFile !== undefined) {
    try {
      return (await readFile(options.enrollmentTokenFile, 'utf8')).trim();
    } catch (error) {
      throw new SecurenodeError('ERR_INPUT_MISSING', `cannot read the enrollment token file ${options.enrollmentTokenFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  if (options.enrollmentToken !== undefined) {
    io.stderr.write(
      `WARNING: an enrollment token on the command line can be read by every user of this machine (ps, /proc) while securenode starts; pass it on standard input (--enrollment-token -), with --enrollment-token-file FILE, or in ${enrollmentTokenVariable}\n`,
    );
    // Linux shows the process title in place of the whole command line: the token is no longer in it once the node runs.
    process.title = 'securenode start';
    return options.enrollmentToken;
  }
  // A variable left in a service's environment must not break the restarts after the join: it counts on a new node only.
  if (fromEnv === undefined || fromEnv === '' || (await hasStarted())) return undefined;
  return fromEnv;
}

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { remember } from './secrets-ledger.js';
import { shellWord } from '../../src/home/command-hint.js';

/** The real command, as an operator runs it. */
export const securenodeBin = fileURLToPath(new URL('../../../bin/securenode', import.meta.url));

/** A clean environment: nothing from the test runner's own SECURENODE_* variables leaks in. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', ...extra };
}

/** Run `securenode ARGS` with stdin from `input` (or empty), no terminal. */
export async function runCli(args: string[], options: { env?: Record<string, string>; input?: string | Buffer } = {}) {
  const result = await execa(process.execPath, [securenodeBin, ...args], {
    reject: false,
    extendEnv: false,
    env: cleanEnv(options.env),
    input: options.input ?? '',
    stripFinalNewline: false,
    encoding: 'utf8',
  });
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/** Quote a word for sh: the quoting the product's own hints use. */
export { shellWord as shellQuote };

/**
 * Run `securenode ARGS` on a pseudo-terminal of 100 columns (script -qec), and
 * answer each prompt only once it has appeared, as a person types. Returns the
 * exit code and everything the terminal showed.
 */
export async function runInTerminal(
  args: string[],
  options: { env?: Record<string, string>; answers?: { prompt: RegExp; answer: string }[]; timeoutMs?: number; wrap?: (argv: string[]) => Promise<string[]> } = {},
): Promise<{ exitCode: number | null; output: string }> {
  const command = `stty cols 100 rows 40; exec ${[process.execPath, securenodeBin, ...args].map(shellWord).join(' ')}`;
  const argv = await (options.wrap ?? (async (plain: string[]) => plain))(['script', '-qec', command, '/dev/null']);
  const child = spawn(argv[0]!, argv.slice(1), { env: cleanEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
  const answers = [...(options.answers ?? [])];
  let output = '';
  let answeredUpTo = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out; the terminal showed: ${JSON.stringify(output)}`));
    }, options.timeoutMs ?? 30_000);
    const onOutput = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const next = answers[0];
      if (next && next.prompt.test(output.slice(answeredUpTo))) {
        answers.shift();
        answeredUpTo = output.length;
        child.stdin.write(`${next.answer}\r`);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      child.stdin.destroy();
      remember({ kind: 'output', command: args.join(' '), terminal: true, text: output });
      resolve({ exitCode, output });
    });
  });
}

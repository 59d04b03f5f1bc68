import { SecurenodeError } from '../errors.js';

/** Everything a command reads from or writes to the outside; tests pass their own. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly env: NodeJS.ProcessEnv;
}

/** The real process streams. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

/** Whether a person can answer prompts: stdin is a terminal. */
export function canPrompt(io: CliIo): boolean {
  return io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function';
}

/** Read all of stdin (a pipe or a file), as bytes. */
export async function readAllStdin(io: CliIo): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

const stdinLines = new WeakMap<CliIo, Promise<string[]>>();

/**
 * The next line of stdin (a pipe or a file), without its line ending: successive
 * calls answer successive questions, as a person would at a terminal.
 */
export async function readStdinLine(io: CliIo, what: string): Promise<string> {
  let lines = stdinLines.get(io);
  if (!lines) {
    lines = readAllStdin(io).then((bytes) => {
      const text = bytes.toString('utf8');
      return text.length === 0 ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/);
    });
    stdinLines.set(io, lines);
  }
  const line = (await lines).shift();
  if (line === undefined) throw new SecurenodeError('ERR_INPUT_MISSING', `expected ${what} on standard input, but it was empty`);
  return line;
}

/**
 * Ask a question on the terminal. With `secret`, nothing typed is echoed; the
 * answer never passes through anything but this function's memory.
 */
export function ask(io: CliIo, question: string, options: { secret?: boolean } = {}): Promise<string> {
  const { stdin, stderr } = io;
  // Leave echo mode before the question appears: setRawMode waits for pending
  // output to drain (TCSADRAIN), so an answer typed at once would be echoed.
  stdin.setRawMode?.(true);
  stderr.write(question);
  return new Promise((resolve, reject) => {
    let answer = '';
    const finish = (error?: Error): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      stderr.write('\n');
      if (error) reject(error);
      else resolve(answer);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const character of chunk.toString('utf8')) {
        if (character === '\r' || character === '\n') return finish();
        if (character === '\u0003' || character === '\u0004') {
          return finish(new SecurenodeError('ERR_INPUT_MISSING', 'cancelled at the prompt; nothing was changed'));
        }
        if (character === '\u007f' || character === '\b') {
          if (answer.length > 0 && !options.secret) stderr.write('\b \b');
          answer = [...answer].slice(0, -1).join('');
        } else {
          answer += character;
          if (!options.secret) stderr.write(character);
        }
      }
    };
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Ask a yes/no question; only y or yes (any case) is yes. */
export async function confirm(io: CliIo, question: string): Promise<boolean> {
  const answer = await ask(io, `${question} [y/N] `);
  return /^y(es)?$/i.test(answer.trim());
}

import { spawn, type ChildProcess } from 'node:child_process';
import { access, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { securenodeBin, shellQuote } from './cli.js';
import { ledgerActive, remember, rememberSecretEnv } from './secrets-ledger.js';

/** Tests run the node as this user when they run as root (CI): the node refuses root. */
export const unprivilegedUser = process.getuid?.() === 0 ? (process.env.SECURENODE_TEST_USER ?? 'nobody') : undefined;

async function ids(user: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([execa('id', ['-u', user]), execa('id', ['-g', user])]);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/** A new directory in the system temp dir that the node's user owns, removed after the test (or the suite); homes go inside it. */
export async function nodeOwnedDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'securenode-test-'));
  // Under tap, the secrets scan after the suite reads the homes, then removes them.
  if (ledgerActive()) remember({ kind: 'dir', path: dir });
  else t.teardown(() => rm(dir, { recursive: true, force: true }));
  if (unprivilegedUser) {
    const { uid, gid } = await ids(unprivilegedUser);
    await chown(dir, uid, gid);
  }
  return dir;
}

/**
 * The argv that runs `argv` as the unprivileged user (setpriv) with exactly
 * `env`: `env -i` also drops the test runner's own NODE_OPTIONS hooks.
 */
export async function asNodeUser(argv: string[], env: Record<string, string>): Promise<string[]> {
  const clean = ['env', '-i', ...Object.entries(env).map(([key, value]) => `${key}=${value}`), ...argv];
  if (!unprivilegedUser) return clean;
  const { uid, gid } = await ids(unprivilegedUser);
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', ...clean];
}

/** A running `securenode start`. */
export interface NodeProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolve with the first match of `pattern` in the output, polling until the deadline. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The HTTPS port from the node_started log line. */
  httpPort(timeoutMs?: number): Promise<number>;
  /** Send a signal to the whole process group (script and the node alike). */
  signal(name: NodeJS.Signals): void;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then wait until the process is gone and the home's lock is released. */
  stop(): Promise<void>;
}

/** Start `securenode start --home HOME ARGS` as the unprivileged user, on a 100x40 pseudo-terminal or redirected. */
export async function startNodeProcess(
  home: string,
  options: { terminal: boolean; args?: string[]; env?: Record<string, string>; asRoot?: boolean; command?: string[] },
): Promise<NodeProcess> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...options.env };
  // `command` runs another program that starts a node on `home` (a server that embeds one).
  const command = options.command ?? [process.execPath, securenodeBin, 'start', '--home', home, '-E', 'http.port=0', '-E', 'transport.port=0', ...(options.args ?? [])];
  const argv = options.terminal
    ? await asNodeUser(['script', '-qec', `stty cols 100 rows 40; exec ${command.map(shellQuote).join(' ')}`, '/dev/null'], env)
    : options.asRoot
      ? ['env', '-i', ...Object.entries(env).map(([key, value]) => `${key}=${value}`), ...command]
      : await asNodeUser(command, env);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let output = '';
  const listeners = new Set<() => void>();
  // Decoded per stream, so that a character split across two chunks (a banner rule's ━) stays whole.
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  const append = (chunk: string): void => {
    output += chunk;
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  rememberSecretEnv(options.env ?? {}, 'a node environment');
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  void exit.then(() => remember({ kind: 'output', command: ['start', ...(options.args ?? [])].join(' '), terminal: options.terminal, text: output }));
  let ended = false;
  void exit.then(() => {
    ended = true;
    for (const listener of listeners) listener();
  });
  const waitFor = (pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(output);
        if (match) return done(() => resolve(match));
        if (ended) return done(() => reject(new Error(`the node exited before ${pattern}; output: ${output}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; output: ${output}`))), timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  return {
    child,
    output: () => output,
    waitFor,
    httpPort: async (timeoutMs) => Number((await waitFor(/"event":"node_started","http":"[^"]*:(\d+)"/, timeoutMs))[1]),
    signal: (name) => {
      try {
        process.kill(-child.pid!, name);
      } catch {
        // already gone
      }
    },
    exited: () => exit,
    stop: async () => {
      const signal = (): void => {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // already gone
        }
      };
      if (options.terminal && !ended) {
        // Ctrl-C typed at the node's terminal: a SIGTERM to script(1) (util-linux 2.38) kills the node 2 s later if it
        // has not exited by then, which a busy machine can make it miss, lock file and all. A signal only if that fails.
        child.stdin!.on('error', () => {});
        child.stdin!.write('\x03');
        const fallback = setTimeout(signal, 20_000);
        await exit;
        clearTimeout(fallback);
      } else {
        signal();
      }
      // A node that does not exit is a failure to report with what it said, not a test file that waits for its timeout.
      let timer: NodeJS.Timeout | undefined;
      const exited = await Promise.race([exit.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 60_000)))]);
      clearTimeout(timer);
      if (!exited) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        throw new Error(`the node did not exit within 60 s of SIGTERM; output: ${output.slice(-4000)}`);
      }
      const lock = join(home, 'data', 'node.lock');
      const deadline = Date.now() + 15_000;
      while (await access(lock).then(() => true, () => false)) {
        if (Date.now() > deadline) throw new Error(`the node did not release ${lock}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

/** A home whose first start ran to the first answer and then stopped: for tests of what is done to a home between starts. */
export async function firstStartedHome(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<{ dir: string; home: string }> {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  const first = await startNodeProcess(home, { terminal: false, env });
  await first.httpPort();
  await first.stop();
  return { dir, home };
}

/** Run `securenode ARGS` to completion as the unprivileged user, without a terminal. */
export async function runCliAsNodeUser(args: string[], env: Record<string, string> = {}, input = '') {
  const argv = await asNodeUser([process.execPath, securenodeBin, ...args], { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...env });
  const result = await execa(argv[0]!, argv.slice(1), { reject: false, input, stripFinalNewline: false });
  rememberSecretEnv(env, 'a tool environment');
  remember({ kind: 'output', command: args.join(' '), terminal: false, text: `${result.stdout}\n${result.stderr}` });
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/** Run `securenode ARGS` as the unprivileged user on a 100x40 pseudo-terminal, answering prompts as they appear. */
export async function runInTerminalAsNodeUser(args: string[], answers: { prompt: RegExp; answer: string }[]) {
  const { runInTerminal } = await import('./cli.js');
  return runInTerminal(args, { answers, wrap: (argv) => asNodeUser(argv, { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' }) });
}

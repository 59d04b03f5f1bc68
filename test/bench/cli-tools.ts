import { execa } from 'execa';
import { securenodeBin } from '../helpers/cli.js';
import { asNodeUser, nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';
import { time } from './stats.js';

/** The tools timed, each a ratio to a bare `node` that loads node:https (the reference), alternating. */
export interface CliToolTimes {
  readonly bare: number[];
  readonly tools: Record<'create-enrollment-token' | 'reset-password' | 'keystore list', { ms: number[]; ratio: number[] }>;
}

/**
 * The companion tools end to end against a running node, from process start to
 * the answer printed (create-enrollment-token, reset-password, keystore list),
 * alternating with a bare `node -e "require('node:https')"` as the same user,
 * `runs` rounds.
 */
export async function cliToolTimes(runs: number): Promise<CliToolTimes> {
  const cleanups: (() => unknown)[] = [];
  try {
    const home = `${await nodeOwnedDir({ teardown: (fn) => cleanups.push(fn) })}/home`;
    const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: 'bench-password-12' } });
    cleanups.push(() => node.signal('SIGKILL'));
    await node.httpPort(60_000);
    await node.waitFor(/"event":"bootstrap_password_applied"/);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    // Each argv (and its user lookups) is made once, outside what is timed.
    const command = async (argv: string[]) => {
      const [file, ...args] = await asNodeUser(argv, env);
      return async () => {
        let result: { exitCode?: number; stderr: unknown } = { stderr: '' };
        const ms = await time(async () => (result = await execa(file!, args, { reject: false })));
        if (result.exitCode !== 0) throw new Error(`${argv.slice(1, 3).join(' ')} exited ${result.exitCode}: ${String(result.stderr)}`);
        return ms;
      };
    };
    const bare = await command([process.execPath, '-e', "require('node:https')"]);
    const tools = {
      'create-enrollment-token': await command([process.execPath, securenodeBin, 'create-enrollment-token', '-s', 'client', '--home', home]),
      'reset-password': await command([process.execPath, securenodeBin, 'reset-password', '-u', 'elastic', '-b', '-s', '--home', home]),
      'keystore list': await command([process.execPath, securenodeBin, 'keystore', 'list', '--home', home]),
    };
    const result: CliToolTimes = { bare: [], tools: { 'create-enrollment-token': { ms: [], ratio: [] }, 'reset-password': { ms: [], ratio: [] }, 'keystore list': { ms: [], ratio: [] } } };
    for (let run = 0; run < runs; run++) {
      for (const [name, tool] of Object.entries(tools) as [keyof CliToolTimes['tools'], () => Promise<number>][]) {
        const reference = await bare();
        const ms = await tool();
        result.bare.push(reference);
        result.tools[name].ms.push(ms);
        result.tools[name].ratio.push(ms / reference);
      }
    }
    await node.stop();
    return result;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

import { execa } from 'execa';
import { securenodeBin } from '../helpers/cli.js';
import { asNodeUser, nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';
import { time } from './stats.js';

/**
 * The companion tools end to end against a running node, from process start to
 * the answer printed: create-enrollment-token and reset-password, `runs` each.
 */
export async function cliToolTimes(runs: number): Promise<{ createEnrollmentToken: number[]; resetPassword: number[] }> {
  const cleanups: (() => unknown)[] = [];
  try {
    const home = `${await nodeOwnedDir({ teardown: (fn) => cleanups.push(fn) })}/home`;
    const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: 'bench-password-12' } });
    cleanups.push(() => node.signal('SIGKILL'));
    await node.httpPort(60_000);
    await node.waitFor(/"event":"bootstrap_password_applied"/);
    const timed = async (args: string[]) => {
      // The argv (and its user lookups) is made once, outside what is timed.
      const argv = await asNodeUser([process.execPath, securenodeBin, ...args], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
      const samples: number[] = [];
      for (let run = 0; run < runs; run++) {
        let result: { exitCode?: number; stderr: unknown } = { stderr: '' };
        samples.push(await time(async () => (result = await execa(argv[0]!, argv.slice(1), { reject: false }))));
        if (result.exitCode !== 0) throw new Error(`securenode ${args[0]} exited ${result.exitCode}: ${String(result.stderr)}`);
      }
      return samples;
    };
    const result = {
      createEnrollmentToken: await timed(['create-enrollment-token', '-s', 'client', '--home', home]),
      resetPassword: await timed(['reset-password', '-u', 'elastic', '-b', '-s', '--home', home]),
    };
    await node.stop();
    return result;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

import { readFile } from 'node:fs/promises';
import { homePaths } from '../../src/home/layout.js';
import { curl, statusOf } from './curl.js';
import { snapshot } from './home-snapshot.js';
import { nodeOwnedDir, startNodeProcess } from './node-process.js';

/**
 * One round of crash safety: kill -9 a first start at a random instant of its
 * first `windowMs`, start again, and report whether the next start serves TLS,
 * left no half-written file, and wrote exactly one settings block.
 */
export async function crashRound(t: { teardown(fn: () => unknown): void }, windowMs = 1500) {
  const home = `${await nodeOwnedDir(t)}/home`;
  const victim = await startNodeProcess(home, { terminal: false });
  const killedAfter = Math.floor(Math.random() * windowMs);
  await new Promise((resolve) => setTimeout(resolve, killedAfter));
  victim.signal('SIGKILL');
  await victim.exited();
  const next = await startNodeProcess(home, { terminal: false });
  t.teardown(() => next.signal('SIGKILL'));
  const port = await next.httpPort(60_000);
  const status = statusOf(await curl(port, `${homePaths(home).certsDir}/http_ca.crt`, []));
  const leftovers = Object.keys(await snapshot(homePaths(home).configDir)).filter((name) => /\.tmp|\.orig|journal|probe/.test(name));
  const blocks = (await readFile(homePaths(home).configFile, 'utf8')).split('BEGIN SECURITY AUTO CONFIGURATION').length - 1;
  await next.stop();
  return { killedAfter, status, leftovers, blocks };
}

import { request } from 'node:https';
import { nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';

function tlsAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    request({ host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode === 401);
    })
      .on('error', () => resolve(false))
      .end();
  });
}

/**
 * Milliseconds from spawning `securenode start` on a fresh home (output
 * redirected, as the unprivileged user when run as root) to its first TLS answer.
 */
export async function firstStartToTls(): Promise<number> {
  const cleanups: (() => unknown)[] = [];
  try {
    const home = `${await nodeOwnedDir({ teardown: (fn) => cleanups.push(fn) })}/home`;
    const started = performance.now();
    const node = await startNodeProcess(home, { terminal: false });
    cleanups.push(() => node.signal('SIGKILL'));
    const port = await node.httpPort(60_000);
    while (!(await tlsAnswers(port))) await new Promise((resolve) => setTimeout(resolve, 5));
    const elapsed = performance.now() - started;
    await node.stop();
    return elapsed;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/** Whether a loopback listener can take `port` now (it is let go at once). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port that was free a moment ago, for a program the test starts
 * itself (moto, nginx, the README's app). It is below the kernel's ephemeral
 * range: a port from there could be handed again, before the program binds it,
 * to any socket that asks for port 0. Most likely what failed the embedded-node
 * test once in CI: its node, started on http.port 0, was given the README app's
 * port, the app died of EADDRINUSE after the banner, and the test's first
 * request to the node was reset (ECONNRESET on connect).
 */
export async function freePort(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999');
  const ephemeral = Number(range.trim().split(/\s+/)[0]) || 32768;
  const low = 10_000;
  const high = Math.max(low + 1000, Math.min(ephemeral, 65_536));
  for (let tries = 0; tries < 200; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free loopback port between ${low} and ${high} after 200 tries`);
}

import { createServer, type Socket } from 'node:net';

/** A TCP port that accepts connections and never answers (a hung service), closed after the test; its port. */
export async function silentPort(t: { teardown(fn: () => unknown): void }): Promise<number> {
  const server = createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => sockets.add(socket.on('error', () => {})));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as { port: number }).port;
}

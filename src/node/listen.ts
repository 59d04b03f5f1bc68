import type { AddressInfo, Server as NetServer } from 'node:net';
import type { Server } from 'node:tls';
import { SecurenodeError } from '../errors.js';
import type { Settings } from '../settings/settings.js';

/** A port that cannot be had, said in words with the setting to change. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const why: Record<string, string> = { EADDRINUSE: 'another process already listens there', EACCES: 'ports below 1024 need privileges', EADDRNOTAVAIL: 'no interface of this machine has that address' };
  const reason = why[error.code ?? ''];
  if (!reason) return error;
  return new SecurenodeError('ERR_LISTEN', `cannot listen on ${host}:${port}: ${reason} (${error.code}); stop the other process, or choose another address or port (http.port, transport.port, http.host, transport.host)`);
}

/** The address to bind: the layer's host, else network.bind_host / network.host, else loopback. */
export function bindHost(settings: Settings, layer: 'http' | 'transport'): string {
  return (
    (layer === 'http' ? settings.string('http.bind_host') : undefined) ??
    settings.string(`${layer}.host`) ??
    settings.string('network.bind_host') ??
    settings.string('network.host') ??
    '127.0.0.1'
  );
}

/** Listen on a port, or on the handle of a server bound earlier (before dropping root). */
export function listen(server: Server | NetServer, port: number, host: string, bound?: NetServer): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, host, port)));
    const ready = (): void => resolve(server.address() as AddressInfo);
    if (bound) server.listen(bound, ready);
    else server.listen(port, host, ready);
  });
}

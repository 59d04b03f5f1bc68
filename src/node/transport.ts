import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { TlsFiles } from '../autoconfig/tls-files.js';
import { intermediateTls } from './tls-profile.js';

/**
 * The transport listener: mutual TLS from transport.p12, trusting the transport
 * CA only (not the system roots), with no host name check
 * (verification_mode: certificate). A peer whose certificate does not chain to
 * the transport CA never gets past the TLS handshake; the others are handed
 * to `accept` (the cluster's handshake and RPC).
 */
export function createTransportServer(tls: TlsFiles, accept: (socket: TLSSocket) => void): Server {
  const server = createServer(
    {
      pfx: tls.transportP12,
      passphrase: tls.transportP12Password,
      ca: [tls.transportCaPem],
      requestCert: true,
      rejectUnauthorized: true,
      ...intermediateTls,
    },
    (socket: TLSSocket) => {
      socket.on('error', () => socket.destroy());
      accept(socket);
    },
  );
  server.on('tlsClientError', () => {});
  return server;
}

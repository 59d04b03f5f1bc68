import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { TlsFiles } from '../autoconfig/tls-files.js';

/**
 * The transport listener: mutual TLS from transport.p12, trusting the transport
 * CA only (not the system roots), with no host name check
 * (verification_mode: certificate). A peer is greeted with the cluster's
 * identity; the cluster issue gives the connection its work.
 */
export function createTransportServer(tls: TlsFiles, hello: { clusterName: string; clusterUuid: string; nodeId: string }): Server {
  const server = createServer(
    {
      pfx: tls.transportP12,
      passphrase: tls.transportP12Password,
      ca: [tls.transportCaPem],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (socket: TLSSocket) => {
      socket.on('error', () => socket.destroy());
      socket.end(`${JSON.stringify({ cluster_name: hello.clusterName, cluster_uuid: hello.clusterUuid, node_id: hello.nodeId })}\n`);
    },
  );
  server.on('tlsClientError', () => {});
  return server;
}

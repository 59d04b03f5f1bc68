import { connect } from 'node:tls';
import { Connection } from '../../src/cluster/connection.js';

/**
 * Dial a transport port with `credentials` (a transport .p12) and send the
 * cluster handshake; resolves with the answer, or with the error (a TLS
 * refusal, or the node's refusal of the handshake) as a string.
 */
export async function transportHandshake(
  port: number,
  credentials: { pfx?: Buffer; passphrase?: string; ca?: string[] },
  hello: { cluster_name: string; cluster_uuid: string },
): Promise<unknown> {
  const socket = connect({ host: '127.0.0.1', port, ...(credentials.pfx ? { pfx: credentials.pfx, passphrase: credentials.passphrase } : {}), ca: credentials.ca ?? [], rejectUnauthorized: credentials.ca !== undefined, checkServerIdentity: () => undefined });
  const connected = await new Promise<string | undefined>((resolve) => {
    socket.once('secureConnect', () => resolve(undefined));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
  });
  if (connected) return connected;
  const connection = new Connection(socket);
  try {
    return await connection.request('handshake', { ...hello, node: { id: 'test-client', name: 'test-client', transport_address: '127.0.0.1:1', http_address: '127.0.0.1:1', holds_store: false } }, 5_000);
  } catch (error) {
    // In TLS 1.3 a refused client certificate shows only after the handshake: as an alert or a bare close.
    return `error ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  } finally {
    connection.close();
  }
}

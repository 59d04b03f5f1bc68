import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'node:http';
import { isIP } from 'node:net';
import { connect, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { SecurenodeError } from '../errors.js';

/** The host and port of `host:port` or `[v6]:port`. */
export function splitAddress(address: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!match) throw new Error(`not a host:port address: ${address}`);
  return { host: match[1]!, port: Number(match[2]) };
}

function chainOf(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let current: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (current?.raw && !seen.has(current.fingerprint256)) {
    seen.add(current.fingerprint256);
    chain.push(new X509Certificate(current.raw));
    current = current.issuerCertificate;
  }
  return chain;
}

/**
 * Why a presented chain fails the pin, or undefined when it passes: it must hold
 * the CA whose SHA-256 is `fgr`, the server's certificate must be signed by it
 * and valid now, and it must cover the address dialled.
 */
export function pinFailure(chain: readonly X509Certificate[], fgr: string, host: string, now = new Date()): string | undefined {
  const [leaf] = chain;
  if (!leaf) return 'the server presented no certificate';
  const ca = chain.find((certificate) => createHash('sha256').update(certificate.raw).digest('hex') === fgr);
  if (!ca || !ca.ca) return 'the server does not present the CA the token names (fingerprint mismatch)';
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return "the server's certificate is not signed by the CA the token names";
  if (now < new Date(leaf.validFrom) || now > new Date(leaf.validTo)) return "the server's certificate is not valid now";
  const covered = isIP(host) ? leaf.checkIP(host) : leaf.checkHost(host);
  if (covered === undefined) return `the server's certificate does not cover ${host}`;
  return undefined;
}

/** Connect and pin; resolve with the verified socket, reject with the reason (nothing was sent). */
function pinnedSocket(host: string, port: number, fgr: string, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // Verification is ours (pinFailure), so the default CA store plays no part.
    const socket = connect({ host, port, rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }), minVersion: 'TLSv1.2' });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timed out')));
    socket.once('error', (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message)));
    socket.once('secureConnect', () => {
      const failure = pinFailure(chainOf(socket), fgr, host);
      if (failure) {
        socket.destroy();
        reject(new Error(failure));
      } else {
        socket.setTimeout(0);
        resolve(socket);
      }
    });
  });
}

/** The node's answer to a pinned request. */
export interface PinnedAnswer {
  readonly address: string;
  readonly status: number;
  readonly body: unknown;
}

/** The `error` of a refusal's JSON body, else its HTTP status. */
export function refusalReason(answer: PinnedAnswer): string {
  const { body } = answer;
  return typeof body === 'object' && body !== null && 'error' in body ? String((body as { error: unknown }).error) : `HTTP ${answer.status}`;
}

/**
 * GET `path` from the first address whose server passes the pin; the headers
 * (the API key) are written only to a socket that passed. Addresses that cannot
 * be reached or fail the pin are skipped; when none is left: exit 69, naming each.
 */
export async function pinnedGet(addresses: readonly string[], fgr: string, path: string, headers: Record<string, string>, timeoutMs = 10_000): Promise<PinnedAnswer> {
  const failures: string[] = [];
  for (const address of addresses) {
    let socket: TLSSocket;
    try {
      const { host, port } = splitAddress(address);
      socket = await pinnedSocket(host, port, fgr, timeoutMs);
    } catch (error) {
      failures.push(`${address} (${(error as Error).message})`);
      continue;
    }
    return new Promise<PinnedAnswer>((resolve, reject) => {
      const outgoing = request({ createConnection: () => socket, path, method: 'GET', headers, timeout: 35_000 }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => {
          socket.destroy();
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ address, status: response.statusCode ?? 0, body });
        });
      });
      outgoing.on('error', (error) => reject(new SecurenodeError('ERR_ENROLLMENT_UNREACHABLE', `the node at ${address} broke off the request: ${error.message}`)));
      outgoing.end();
    });
  }
  throw new SecurenodeError(
    'ERR_ENROLLMENT_UNREACHABLE',
    `could not communicate with the node on any of the addresses from the enrollment token; all of [${addresses.join(', ')}] were attempted: ${failures.join('; ')}`,
  );
}

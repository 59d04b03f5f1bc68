import { createHash, X509Certificate } from 'node:crypto';
import { Agent as HttpAgent, request, type ClientRequestArgs } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect, type ConnectionOptions, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
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

/** The certificates of a PEM text, in order (http_ca.crt holds two CAs during a CA rotation). */
export function pemCertificates(text: string): X509Certificate[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
}

/** Whether `host` is an IP address. An IPv6 address holds a colon and a name never does: Node's IPv6 test is a large regular expression whose first use costs ~5 ms. */
const isAddress = (host: string): boolean => (host.includes(':') ? isIPv6(host) : isIPv4(host));

const validNow = (certificate: X509Certificate, now: Date): boolean => now >= new Date(certificate.validFrom) && now <= new Date(certificate.validTo);

/**
 * Why a server's certificate fails against the CAs a client trusts, or undefined
 * when it passes: a CA among them signed it (OpenSSL checks the signature), both
 * are valid now, and it covers the address dialled. `caName` says which CAs, in
 * the reason.
 */
export function leafFailure(leaf: X509Certificate | undefined, trusted: readonly X509Certificate[], host: string, caName: string, now = new Date()): string | undefined {
  if (!leaf) return 'the server presented no certificate';
  const issuer = trusted.find((ca) => ca.ca && leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
  if (!issuer) return `the server's certificate is not signed by ${caName}`;
  if (!validNow(leaf, now)) return "the server's certificate is not valid now";
  if (!validNow(issuer, now)) return `${caName} is not valid now`;
  const covered = isAddress(host) ? leaf.checkIP(host) : leaf.checkHost(host);
  if (covered === undefined) return `the server's certificate does not cover ${host}`;
  return undefined;
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
  return leafFailure(leaf, [ca], host, 'the CA the token names', now);
}

/** An error of a connection made and refused by a client's own check of the server: nothing was sent on it. */
export class UntrustedServerError extends Error {
  override readonly name = 'UntrustedServerError';
}

/**
 * Connect and check the server with `check` (given the chain it presented);
 * resolve with the socket, reject with the reason (nothing was sent). The check
 * is ours, so the connection is made with an empty trust store: for any other
 * store Node 20 first parses its ~140 bundled root certificates (30-45 ms, most
 * of a tool's TLS cost), and OpenSSL's verdict would be ignored anyway. `trust`
 * replaces that: with a `ca`, OpenSSL verifies (and refuses) before `check`.
 */
export function checkedSocket(
  host: string,
  port: number,
  check: (chain: X509Certificate[]) => string | undefined,
  timeoutMs: number,
  trust: ConnectionOptions = { ca: [], rejectUnauthorized: false },
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ...(isAddress(host) ? {} : { servername: host }), minVersion: 'TLSv1.2', ...trust });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timed out')));
    socket.once('error', (error: NodeJS.ErrnoException) => reject(Object.assign(new Error(error.code ?? error.message), { code: error.code })));
    socket.once('secureConnect', () => {
      const failure = check(chainOf(socket));
      if (failure) {
        socket.destroy();
        reject(new UntrustedServerError(failure));
      } else {
        socket.setTimeout(0);
        resolve(socket);
      }
    });
  });
}

/**
 * An HTTP agent whose connections come from `connect` (a checked socket): a
 * request is written only once its connection passed. Kept alive, one at a time:
 * a command's requests share one connection and one handshake.
 */
export class CheckedAgent extends HttpAgent {
  readonly #connect: (host: string, port: number) => Promise<Duplex>;

  constructor(connect: (host: string, port: number) => Promise<Duplex>) {
    super({ keepAlive: true, maxSockets: 1 });
    this.#connect = connect;
  }

  override createConnection(options: ClientRequestArgs, callback?: (error: Error | null, socket: Duplex) => void): undefined {
    this.#connect(options.host ?? 'localhost', Number(options.port)).then(
      (socket) => callback?.(null, socket),
      (error: Error) => callback?.(error, undefined as never),
    );
    return undefined;
  }
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
      socket = await checkedSocket(host, port, (chain) => pinFailure(chain, fgr, host), timeoutMs);
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

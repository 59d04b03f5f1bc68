import { readFile } from 'node:fs/promises';
import type { X509Certificate } from 'node:crypto';
import { request, type Agent } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { HomePaths } from '../home/layout.js';
import { readNodeAddress } from '../node/data-dir.js';
import { createOperatorToken, operatorKeySetting } from '../security/operator-token.js';
import { isLoopback } from '../enrollment/addresses.js';
import { CheckedAgent, checkedSocket, leafFailure, pemCertificates, UntrustedServerError } from '../enrollment/pinned-client.js';
import type { CliIo } from './io.js';
import { openKeystore } from './keystore-password.js';
import { commandHint } from '../home/command-hint.js';

/** The node's answer: its status and parsed JSON body (or the raw text). */
export interface NodeAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** What every operator request of one command shares: read once (the keystore costs a key derivation). */
export interface OperatorContext {
  readonly target: URL;
  /** Where a hint sends the operator when no node answers. */
  readonly home: string;
  readonly configuredPort: number;
  readonly key: Buffer;
  /** One kept-alive connection for all the command's requests, checked against the home's HTTP CA before any is written: one TLS handshake, not one each (an idle socket does not hold the process). */
  readonly agent: Agent;
}

/** The running node's address, the operator key from the keystore, and the HTTP CA to trust. */
export async function operatorContext(io: CliIo, paths: HomePaths, options: { url?: string; configuredPort: number }): Promise<OperatorContext> {
  const address = await readNodeAddress(paths.dataDir);
  const target = new URL(options.url ?? `https://localhost:${address?.httpPort ?? options.configuredPort}`);
  // The node takes an operator token from loopback only: say so before a token is spent on another address.
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (!isLoopback(host)) {
    throw new Error(`the node accepts operator tokens from loopback only, and ${target.origin} is not this machine's loopback; run the tool on the node's machine, with --url https://localhost:PORT or without --url`);
  }
  const { keystore } = await openKeystore(io, paths.keystoreFile);
  const key = keystore.getString(operatorKeySetting);
  if (!key) throw new Error(`the keystore holds no ${operatorKeySetting}; start the node once to create it`);
  const caFile = `${paths.certsDir}/http_ca.crt`;
  const ca = await readFile(caFile, 'utf8');
  const trusted = pemCertificates(ca);
  if (trusted.length === 0) throw new Error(`${caFile} holds no certificate; it is the HTTP CA the tools trust`);
  const agent = new CheckedAgent((host, port) => nodeSocket(host, port, trusted, ca, caFile));
  return { target, home: paths.home, configuredPort: options.configuredPort, key: Buffer.from(key, 'base64'), agent };
}

/**
 * A TLS connection to the node whose certificate one of the home's HTTP CAs
 * signed, valid now, for localhost (the name the tools have always checked).
 * A certificate they did not sign themselves (an operator's own chain, through
 * an intermediate) is left to OpenSSL, which builds the chain from the same CAs.
 */
async function nodeSocket(host: string, port: number, trusted: readonly X509Certificate[], ca: string, caFile: string): Promise<TLSSocket> {
  let direct = true;
  try {
    return await checkedSocket(
      host,
      port,
      ([leaf]) => {
        direct = leaf === undefined || trusted.some((certificate) => leaf.checkIssued(certificate));
        return direct ? leafFailure(leaf, trusted, 'localhost', `the HTTP CA in ${caFile}`) : 'not issued by a CA of the file itself';
      },
      35_000,
    );
  } catch (error) {
    if (direct) throw error;
    return checkedSocket(host, port, () => undefined, 35_000, { ca, servername: 'localhost' });
  }
}

/**
 * One request to the running node as the local operator (SPEC 7): over HTTPS on
 * loopback, trusting only the home's HTTP CA, with a single-use token signed by
 * the key in the node's keystore.
 */
export async function operatorRequest(
  operator: OperatorContext,
  options: { method: string; path: string; body?: unknown },
): Promise<NodeAnswer> {
  const { target, key, agent } = operator;
  const token = createOperatorToken(key, options.method, options.path);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string | number> = { authorization: `Operator ${token}` };
  if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  return new Promise<NodeAnswer>((resolve, reject) => {
    const outgoing = request(
      { host: target.hostname === 'localhost' ? '127.0.0.1' : target.hostname.replace(/^\[|\]$/g, ''), port: target.port || 443, path: options.path, method: options.method, agent, timeout: 35_000, headers },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: response.statusCode ?? 0, body: parsed });
        });
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('the node did not answer within 35 s')));
    outgoing.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'ECONNREFUSED'
            ? `no node is running at ${target.origin} (ECONNREFUSED); start it with \`${commandHint('start', operator.home)}\` (its settings give http.port ${operator.configuredPort}), or name the node's address with --url`
            : error instanceof UntrustedServerError
              ? `the server at ${target.origin} is not this home's node: ${error.message}; nothing was sent to it`
              : `could not reach the node at ${target.origin} (${error.code ?? error.message})`,
        ),
      ),
    );
    outgoing.end(body);
  });
}

/** The error text of a node's answer. */
export function answerError(answer: NodeAnswer): string {
  const message = typeof answer.body === 'object' && answer.body !== null && 'error' in answer.body ? String((answer.body as { error: unknown }).error) : String(answer.body);
  return `the node answered ${answer.status}: ${message}`;
}

import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { TlsFiles } from '../autoconfig/tls-files.js';
import { SecurenodeError } from '../errors.js';
import { readPkcs12Certificates, readPkcs12Key } from '../pki/read-pkcs12.js';
import type { ReceivedClusterTls } from '../pki/tls-material.js';
import { pinnedGet, refusalReason, splitAddress } from './pinned-client.js';
import type { EnrollmentToken } from './token.js';

/** The body of GET /_security/enroll/node: Elasticsearch's fields, plus the cluster's name and uuid. */
export interface NodeEnrollmentBody {
  readonly http_ca_key: string;
  readonly http_ca_cert: string;
  readonly transport_ca_cert: string;
  /** The transport CA's key (PKCS#8), from a cluster that keeps it. */
  readonly transport_ca_key?: string;
  readonly transport_key: string;
  readonly transport_cert: string;
  readonly nodes_addresses: readonly string[];
  readonly cluster_name: string;
  readonly cluster_uuid: string;
}

/** What a joining node takes from the cluster. */
export interface ReceivedNodeEnrollment {
  readonly tls: ReceivedClusterTls;
  /** Transport addresses of the cluster's nodes: the new node's discovery.seed_hosts. */
  readonly nodesAddresses: readonly string[];
  readonly clusterName: string;
  readonly clusterUuid: string;
  /** The address that answered. */
  readonly address: string;
}

const der = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'der' }).toString('base64');

function transportCaKey(tls: TlsFiles): { transport_ca_key?: string } {
  try {
    return { transport_ca_key: der(readPkcs12Key(tls.transportP12, tls.transportP12Password, 'transport.p12', 'transport_ca_key')) };
  } catch {
    return {};
  }
}

/**
 * The node side: the HTTP CA key and certificate and the shared transport key,
 * certificate and CA, as base64 DER (keys as PKCS#8), read from the node's .p12 files.
 */
export function nodeEnrollmentBody(tls: TlsFiles, cluster: { readonly name: string; readonly uuid: string }): Omit<NodeEnrollmentBody, 'nodes_addresses'> {
  const certificate = (pem: string): string => new X509Certificate(pem).raw.toString('base64');
  const transport = readPkcs12Certificates(tls.transportP12, tls.transportP12Password, 'transport.p12').find((entry) => entry.alias === 'transport');
  if (!transport) throw new SecurenodeError('ERR_TLS_MATERIAL', 'transport.p12 holds no transport certificate; restore the file auto-configuration wrote');
  return {
    http_ca_key: der(readPkcs12Key(tls.httpP12, tls.httpP12Password, 'http.p12', 'http_ca')),
    http_ca_cert: certificate(tls.httpCaPem),
    transport_ca_cert: certificate(tls.transportCaPem),
    // A cluster made before the transport CA key was kept has none to give.
    ...transportCaKey(tls),
    transport_key: der(readPkcs12Key(tls.transportP12, tls.transportP12Password, 'transport.p12', 'transport')),
    transport_cert: certificate(transport.pem),
    cluster_name: cluster.name,
    cluster_uuid: cluster.uuid,
  };
}

const invalid = (address: string, what: string): SecurenodeError =>
  new SecurenodeError('ERR_ENROLLMENT_TOKEN', `Aborting enrollment: the node at ${address} answered with ${what}; nothing was written`);

function certificateField(body: Record<string, unknown>, field: string, address: string): X509Certificate {
  try {
    return new X509Certificate(Buffer.from(String(body[field]), 'base64'));
  } catch {
    throw invalid(address, `no valid certificate in ${field}`);
  }
}

function keyField(body: Record<string, unknown>, field: string, address: string): KeyObject {
  try {
    return createPrivateKey({ key: Buffer.from(String(body[field]), 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    throw invalid(address, `no valid private key in ${field}`);
  }
}

const samePublicKey = (key: KeyObject, certificate: X509Certificate): boolean =>
  createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(certificate.publicKey.export({ type: 'spki', format: 'der' }));

/**
 * Check what the cluster sent (exit 65 otherwise): the HTTP CA is the one the
 * token names, each key belongs to its certificate, and the transport
 * certificate is issued by the transport CA.
 */
export function parseNodeEnrollmentBody(value: unknown, fgr: string, address: string): ReceivedNodeEnrollment {
  if (typeof value !== 'object' || value === null) throw invalid(address, 'a body that is not a JSON object');
  const body = value as Record<string, unknown>;
  const httpCa = { certificate: certificateField(body, 'http_ca_cert', address), privateKey: keyField(body, 'http_ca_key', address) };
  const transportCa = certificateField(body, 'transport_ca_cert', address);
  const transport = { certificate: certificateField(body, 'transport_cert', address), privateKey: keyField(body, 'transport_key', address) };
  if (createHash('sha256').update(httpCa.certificate.raw).digest('hex') !== fgr) throw invalid(address, 'an HTTP CA other than the one the token names');
  if (!httpCa.certificate.ca || !samePublicKey(httpCa.privateKey, httpCa.certificate)) throw invalid(address, 'an HTTP CA key that does not belong to its certificate');
  if (!transportCa.ca || !transport.certificate.checkIssued(transportCa) || !transport.certificate.verify(transportCa.publicKey)) {
    throw invalid(address, 'a transport certificate that its transport CA did not issue');
  }
  if (!samePublicKey(transport.privateKey, transport.certificate)) throw invalid(address, 'a transport key that does not belong to its certificate');
  const transportCaKey = body.transport_ca_key === undefined ? undefined : keyField(body, 'transport_ca_key', address);
  if (transportCaKey && !samePublicKey(transportCaKey, transportCa)) throw invalid(address, 'a transport CA key that does not belong to its certificate');
  const addresses = body.nodes_addresses;
  const isAddress = (entry: unknown): boolean => {
    try {
      return typeof entry === 'string' && splitAddress(entry).port > 0;
    } catch {
      return false;
    }
  };
  if (!Array.isArray(addresses) || addresses.length === 0 || !addresses.every(isAddress)) {
    throw invalid(address, 'no nodes_addresses');
  }
  if (typeof body.cluster_name !== 'string' || body.cluster_name === '' || typeof body.cluster_uuid !== 'string') throw invalid(address, 'no cluster_name or cluster_uuid');
  return { tls: { httpCa, transportCa, transport, ...(transportCaKey ? { transportCaKey } : {}) }, nodesAddresses: addresses as string[], clusterName: body.cluster_name, clusterUuid: body.cluster_uuid, address };
}

/**
 * The joining side: GET /_security/enroll/node through the pinned client (the
 * API key goes only to a server that passed the pin). No address answering, or
 * a refusal: exit 69, naming the addresses.
 */
export async function fetchNodeEnrollment(token: EnrollmentToken): Promise<ReceivedNodeEnrollment> {
  const answer = await pinnedGet(token.adr, token.fgr, '/_security/enroll/node', { authorization: `ApiKey ${Buffer.from(token.key).toString('base64')}` });
  if (answer.status !== 200) {
    const reason = refusalReason(answer);
    const hint = answer.status === 401 ? ' (the token may have expired; create a new one with `securenode create-enrollment-token -s node` on a node of the cluster)' : '';
    throw new SecurenodeError('ERR_ENROLLMENT_UNREACHABLE', `Aborting enrollment: the node at ${answer.address} refused it: ${reason}${hint}; nothing was written`);
  }
  return parseNodeEnrollmentBody(answer.body, token.fgr, answer.address);
}

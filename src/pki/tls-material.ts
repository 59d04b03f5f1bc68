import { randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import { issueCertificate, type IssuedCertificate, type SubjectAltName } from './certificate.js';
import { sha256Fingerprint } from './fingerprint.js';
import { generateKeyPairFor, keyIdentifier, type KeyPair, type KeySpec } from './keys.js';
import { buildPkcs12 } from './pkcs12.js';

/** Subjects and validity of what auto-configuration generates (SPEC 4, the table). */
export const certificateProfiles = {
  transportCa: { commonName: 'securenode auto-configuration transport CA', bits: 4096, validityDays: 99 * 365 },
  httpCa: { commonName: 'securenode auto-configuration HTTP CA', bits: 4096, validityDays: 3 * 365 },
  transportValidityDays: 99 * 365,
  httpValidityDays: 2 * 365,
} as const;

/** Keystore names of the .p12 passwords (the transport truststore is the same file). */
export const tlsPasswordSettings = {
  http: 'security.http.ssl.keystore.secure_password',
  transportKeystore: 'security.transport.ssl.keystore.secure_password',
  transportTruststore: 'security.transport.ssl.truststore.secure_password',
} as const;

/** What generateTlsMaterial needs. */
export interface TlsMaterialOptions {
  /** The leaf certificates' CN: node.name. */
  readonly nodeName: string;
  /** The HTTP certificate's names (see discoverSubjectAltNames). */
  readonly subjectAltNames: readonly SubjectAltName[];
  /** ECDSA P-256 (default) for the CAs and leaves, or RSA (4096-bit CAs, leafKeySize leaves) for clients that need it. */
  readonly keyType?: 'ec' | 'rsa';
  /** The RSA leaves' size: 2048 (default), 3072 or 4096. */
  readonly leafKeySize?: number;
  /** Makes each key pair; default Node's generator. Tests hand in keys made once, to skip the prime search. */
  readonly generateKeyPair?: (spec: KeySpec) => Promise<KeyPair>;
}

/** The files auto-configuration writes, with their passwords: from new CAs, or from the cluster a node joins. */
export interface TlsFileSet {
  /** PEM of the HTTP CA certificate, for config/certs/http_ca.crt. */
  readonly httpCaPem: string;
  /** SHA-256 of the HTTP CA certificate, lowercase hex. */
  readonly httpCaFingerprint: string;
  /** PEM of the node's own HTTP certificate. */
  readonly httpCertificatePem: string;
  /** PEM of the transport CA. */
  readonly transportCaPem: string;
  readonly httpP12: Buffer;
  readonly transportP12: Buffer;
  /** The .p12 passwords: secrets, for the keystore only. */
  readonly passwords: { readonly http: string; readonly transport: string };
}

/** The generated CAs, leaves and PKCS#12 files, with their passwords. */
export interface TlsMaterial extends TlsFileSet {
  readonly httpCa: IssuedCertificate;
  readonly http: IssuedCertificate;
  readonly transportCa: IssuedCertificate;
  readonly transport: IssuedCertificate;
}

/** What a joining node receives from its cluster (SPEC 6, GET /_security/enroll/node). */
export interface ReceivedClusterTls {
  readonly httpCa: { readonly certificate: X509Certificate; readonly privateKey: KeyObject };
  readonly transportCa: X509Certificate;
  /** The transport CA's key, from a cluster that keeps it (each node can then renew its transport certificate). */
  readonly transportCaKey?: KeyObject;
  readonly transport: { readonly certificate: X509Certificate; readonly privateKey: KeyObject };
}

/** A random password for a .p12 file: 32 bytes, base64url. */
export function randomP12Password(): string {
  return randomBytes(32).toString('base64url');
}

/** The keys of a TLS set: P-256 throughout, or RSA with Elasticsearch's sizes (4096-bit CAs, leaves of leafKeySize). */
function keySpecs(options: TlsMaterialOptions): { ca: KeySpec; leaf: KeySpec } {
  if ((options.keyType ?? 'ec') === 'ec') return { ca: { type: 'ec' }, leaf: { type: 'ec' } };
  const leafBits = options.leafKeySize ?? 2048;
  if (![2048, 3072, 4096].includes(leafBits)) throw new TypeError(`leafKeySize must be 2048, 3072 or 4096, not ${leafBits}`);
  return { ca: { type: 'rsa', bits: certificateProfiles.httpCa.bits }, leaf: { type: 'rsa', bits: leafBits } };
}

/**
 * Generate the full set of SPEC 4: transport CA and certificate, HTTP CA and
 * certificate, http.p12 and transport.p12. The four keys are generated at once
 * on the thread pool; certificates are signed natively.
 */
export async function generateTlsMaterial(options: TlsMaterialOptions): Promise<TlsMaterial> {
  const { transportCa: transportCaProfile, httpCa: httpCaProfile } = certificateProfiles;
  const { ca, leaf } = keySpecs(options);
  const generate = options.generateKeyPair ?? generateKeyPairFor;
  const [transportCaKeys, httpCaKeys, transportKeys, httpKeys] = await Promise.all([generate(ca), generate(ca), generate(leaf), generate(leaf)]);
  const transportCa = issueCertificate({ commonName: transportCaProfile.commonName, profile: 'ca', validityDays: transportCaProfile.validityDays, ...transportCaKeys });
  const httpCa = issueCertificate({ commonName: httpCaProfile.commonName, profile: 'ca', validityDays: httpCaProfile.validityDays, ...httpCaKeys });
  const transport = issueCertificate({
    commonName: options.nodeName,
    profile: 'server-and-client',
    validityDays: certificateProfiles.transportValidityDays,
    issuer: transportCa,
    ...transportKeys,
  });
  const http = issueHttpCertificate(httpCa, options, httpKeys);
  return { httpCa, http, transportCa, transport, ...fileSet(httpCa, http, transportCa.certificate, transport, transportCa.privateKey) };
}

function fileSet(httpCa: IssuedCertificate, http: IssuedCertificate, transportCa: X509Certificate, transport: IssuedCertificate, transportCaKey?: KeyObject): TlsFileSet {
  const passwords = { http: randomP12Password(), transport: randomP12Password() };
  return {
    httpCaPem: httpCa.certificate.toString(),
    httpCaFingerprint: sha256Fingerprint(httpCa.certificate),
    httpCertificatePem: http.certificate.toString(),
    transportCaPem: transportCa.toString(),
    httpP12: buildHttpP12(httpCa, http, passwords.http),
    transportP12: buildTransportP12(transportCa, transport, passwords.transport, transportCaKey),
    passwords,
  };
}

/** A certificate and key made elsewhere, in the shape issueCertificate returns. */
function adopt(pair: { readonly certificate: X509Certificate; readonly privateKey: KeyObject }): IssuedCertificate {
  const commonName = /^CN=(.*)$/m.exec(pair.certificate.subject)?.[1] ?? pair.certificate.subject;
  return { certificate: pair.certificate, privateKey: pair.privateKey, keyId: keyIdentifier(pair.certificate.publicKey), commonName };
}

/**
 * The files of a node that joins a cluster (SPEC 6): the cluster's HTTP CA and
 * its shared transport key, certificate and CA, and a new HTTP key and
 * certificate of this node's own, signed with the received HTTP CA key.
 */
export async function joiningTlsMaterial(options: TlsMaterialOptions & { readonly received: ReceivedClusterTls }): Promise<TlsFileSet> {
  const httpCa = adopt(options.received.httpCa);
  // The new HTTP key is of the cluster's kind: a CA of RSA gets an RSA leaf, one of EC an EC leaf.
  const leaf: KeySpec = httpCa.certificate.publicKey.asymmetricKeyType === 'rsa' ? { type: 'rsa', bits: options.leafKeySize ?? 2048 } : { type: 'ec' };
  const http = issueHttpCertificate(httpCa, options, await (options.generateKeyPair ?? generateKeyPairFor)(leaf));
  return fileSet(httpCa, http, options.received.transportCa, adopt(options.received.transport), options.received.transportCaKey);
}

/** The node's HTTP certificate, signed by the HTTP CA (a joining node gets the CA from the cluster). */
export function issueHttpCertificate(
  httpCa: IssuedCertificate,
  options: TlsMaterialOptions,
  keys: KeyPair,
): IssuedCertificate {
  return issueCertificate({
    commonName: options.nodeName,
    profile: 'server',
    validityDays: certificateProfiles.httpValidityDays,
    subjectAltNames: options.subjectAltNames,
    issuer: httpCa,
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
  });
}

/**
 * http.p12: entry "http" (key, chain [http, CA]) first, so servers pick it, then "http_ca" (CA key and cert);
 * during a CA rotation, "http_ca_next" (the new CA's key and cert) too.
 */
export function buildHttpP12(httpCa: IssuedCertificate, http: IssuedCertificate, password: string, next?: IssuedCertificate): Buffer {
  return buildPkcs12(
    [
      { kind: 'key', alias: 'http', privateKey: http.privateKey, chain: [http.certificate, httpCa.certificate] },
      { kind: 'key', alias: 'http_ca', privateKey: httpCa.privateKey, chain: [httpCa.certificate] },
      ...(next ? [{ kind: 'key' as const, alias: 'http_ca_next', privateKey: next.privateKey, chain: [next.certificate] }] : []),
    ],
    password,
  );
}

/**
 * transport.p12: key entry "transport" first, trusted entry "transport_ca" (keystore and truststore
 * at once, as Java reads it too); and, when the cluster keeps its CA's key (so that a node can renew
 * its transport certificate), key entry "transport_ca_key" with the CA's key and certificate.
 */
export function buildTransportP12(transportCa: X509Certificate, transport: IssuedCertificate, password: string, transportCaKey?: KeyObject): Buffer {
  return buildPkcs12(
    [
      { kind: 'key', alias: 'transport', privateKey: transport.privateKey, chain: [transport.certificate] },
      { kind: 'trusted', alias: 'transport_ca', certificate: transportCa },
      ...(transportCaKey ? [{ kind: 'key' as const, alias: 'transport_ca_key', privateKey: transportCaKey, chain: [transportCa] }] : []),
    ],
    password,
  );
}

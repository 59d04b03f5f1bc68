import { X509Certificate, type KeyObject } from 'node:crypto';
import { SecurenodeError } from '../errors.js';
import { issueCertificate, type IssuedCertificate, type SubjectAltName } from './certificate.js';
import { sha256Fingerprint } from './fingerprint.js';
import { generateKeyPairFor, keyIdentifier, type KeySpec } from './keys.js';
import { readPkcs12Certificates, readPkcs12Key } from './read-pkcs12.js';
import { buildHttpP12, buildTransportP12, certificateProfiles } from './tls-material.js';

const day = 86_400_000;

/** What `certs status` says of one certificate. */
export interface CertificateDescription {
  readonly name: 'http_ca' | 'http_ca_next' | 'http' | 'transport_ca' | 'transport';
  readonly subject: string;
  readonly subjectAltNames: readonly string[];
  readonly keyType: string;
  readonly keySize: number | string;
  readonly serial: string;
  readonly fingerprint: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Whole days until notAfter (negative once past it). */
  readonly daysLeft: number;
}

/** A certificate's names, dates, key and fingerprint, with its days left at `now`. */
export function describeCertificate(name: CertificateDescription['name'], pem: string, now = Date.now()): CertificateDescription {
  const certificate = new X509Certificate(pem);
  const key = certificate.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  return {
    name,
    subject: certificate.subject.replace(/\n/g, ', '),
    subjectAltNames: certificate.subjectAltName ? certificate.subjectAltName.split(', ') : [],
    keyType: key.asymmetricKeyType === 'ec' ? 'EC' : (key.asymmetricKeyType ?? 'unknown').toUpperCase(),
    keySize: key.asymmetricKeyType === 'ec' ? (details.namedCurve === 'prime256v1' ? 'P-256' : (details.namedCurve ?? 'unknown')) : (details.modulusLength ?? 0),
    serial: certificate.serialNumber.toLowerCase(),
    fingerprint: sha256Fingerprint(certificate),
    notBefore: new Date(certificate.validFrom).toISOString(),
    notAfter: new Date(certificate.validTo).toISOString(),
    daysLeft: Math.floor((new Date(certificate.validTo).getTime() - now) / day),
  };
}

/** The transport certificate of a transport.p12 (each read checks the file's MAC: read it once, not per request). */
export function transportCertificatePem(tls: { readonly transportP12: Buffer; readonly transportP12Password: string }): string | undefined {
  return readPkcs12Certificates(tls.transportP12, tls.transportP12Password, 'transport.p12').find((entry) => entry.alias === 'transport')?.pem;
}

/** A node's certificates: HTTP CA (and a rotation's new one), HTTP leaf, transport CA and leaf. */
export function describeTlsCertificates(tls: { readonly httpCaPem: string; readonly httpCaNextPem?: string; readonly httpCertificatePem: string; readonly transportCaPem: string }, transportPem: string | undefined, now = Date.now()): CertificateDescription[] {
  return [
    describeCertificate('http_ca', tls.httpCaPem, now),
    ...(tls.httpCaNextPem ? [describeCertificate('http_ca_next', tls.httpCaNextPem, now)] : []),
    describeCertificate('http', tls.httpCertificatePem, now),
    describeCertificate('transport_ca', tls.transportCaPem, now),
    ...(transportPem ? [describeCertificate('transport', transportPem, now)] : []),
  ];
}

/** Whether a certificate has less than a third of its life left at `now` (when auto-renewal replaces a leaf). */
export function isDueForRenewal(pem: string, now = Date.now()): boolean {
  const certificate = new X509Certificate(pem);
  const from = new Date(certificate.validFrom).getTime();
  const to = new Date(certificate.validTo).getTime();
  return to - now < (to - from) / 3;
}

/** The names of a certificate as the issuer takes them. */
function subjectAltNamesOf(certificate: X509Certificate): SubjectAltName[] {
  return (certificate.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:') || entry.startsWith('IP Address:'))
    .map((entry) => (entry.startsWith('DNS:') ? { kind: 'dns', value: entry.slice(4) } : { kind: 'ip', value: entry.slice('IP Address:'.length) }));
}

/** What renewHttpP12 may change: more names, and (for tests) the validity. */
export interface HttpRenewalOptions {
  /** Names to add to the leaf's (DNS names or IP addresses). */
  readonly addSubjectAltNames?: readonly SubjectAltName[];
  readonly validityDays?: number;
  readonly notBefore?: Date;
}

/** What a renewal made. */
export interface HttpRenewal {
  readonly p12: Buffer;
  readonly certificatePem: string;
  readonly previous: CertificateDescription;
  readonly renewed: CertificateDescription;
}

/** The CA and leaf entries of an http.p12 written by auto-configuration, keys and all. */
interface HttpP12 {
  readonly ca: IssuedCertificate;
  readonly leaf: IssuedCertificate;
  /** The new CA of a rotation under way. */
  readonly next?: IssuedCertificate;
}

const commonNameOf = (certificate: X509Certificate): string => /^CN=(.*)$/m.exec(certificate.subject)?.[1] ?? certificate.subject;

function openHttpP12(p12: Buffer, password: string, source: string): HttpP12 {
  const entries = readPkcs12Certificates(p12, password, source);
  const pemOf = (alias: string) => entries.find((entry) => entry.alias === alias)?.pem;
  const [leafPem, caPem, nextPem] = [pemOf('http'), pemOf('http_ca'), pemOf('http_ca_next')];
  if (!leafPem || !caPem) throw new SecurenodeError('ERR_TLS_MATERIAL', `${source} holds no ${leafPem ? 'http_ca' : 'http'} entry; it was not written by auto-configuration, so securenode cannot renew it`);
  const issued = (pem: string, alias: string): IssuedCertificate => {
    const certificate = new X509Certificate(pem);
    let privateKey: KeyObject;
    try {
      privateKey = readPkcs12Key(p12, password, source, alias);
    } catch {
      throw new SecurenodeError('ERR_TLS_MATERIAL', `${source} holds the certificate "${alias}" but not its key; renew on a node whose http.p12 holds the HTTP CA's key`);
    }
    return { certificate, privateKey, keyId: keyIdentifier(certificate.publicKey), commonName: commonNameOf(certificate) };
  };
  return { ca: issued(caPem, 'http_ca'), leaf: issued(leafPem, 'http'), ...(nextPem ? { next: issued(nextPem, 'http_ca_next') } : {}) };
}

/** A new leaf for `leaf`'s name and SANs (and any added) from `ca`, with a new key of the old one's kind, never past the CA. */
async function issueLeafLike(leaf: X509Certificate, ca: IssuedCertificate, options: HttpRenewalOptions): Promise<IssuedCertificate> {
  const spec: KeySpec = leaf.publicKey.asymmetricKeyType === 'rsa' ? { type: 'rsa', bits: leaf.publicKey.asymmetricKeyDetails?.modulusLength ?? 2048 } : { type: 'ec' };
  const keys = await generateKeyPairFor(spec);
  const names = subjectAltNamesOf(leaf);
  for (const added of options.addSubjectAltNames ?? []) if (!names.some((name) => name.kind === added.kind && name.value === added.value)) names.push(added);
  // Never past the CA: a leaf that outlives its issuer fails at the CA's end anyway.
  const wanted = options.validityDays ?? certificateProfiles.httpValidityDays;
  const notBefore = options.notBefore ?? new Date();
  const untilCa = Math.floor((new Date(ca.certificate.validTo).getTime() - notBefore.getTime()) / day);
  return issueCertificate({ commonName: commonNameOf(leaf), profile: 'server', validityDays: Math.max(1, Math.min(wanted, untilCa)), notBefore, subjectAltNames: names, issuer: ca, ...keys });
}

/**
 * A new HTTP leaf from the HTTP CA that http.p12 holds (the same CA, so every
 * client keeps trusting the node): a new key of the old one's kind, the old
 * leaf's name and SANs (and any added), a full validity; in a new http.p12
 * with the same password, so that the keystore does not change. A CA rotation
 * under way stays under way.
 */
export async function renewHttpP12(p12: Buffer, password: string, source: string, options: HttpRenewalOptions = {}): Promise<HttpRenewal> {
  const current = openHttpP12(p12, password, source);
  const renewed = await issueLeafLike(current.leaf.certificate, current.ca, options);
  return {
    p12: buildHttpP12(current.ca, renewed, password, current.next),
    certificatePem: renewed.certificate.toString(),
    previous: describeCertificate('http', current.leaf.certificate.toString()),
    renewed: describeCertificate('http', renewed.certificate.toString()),
  };
}

/** What a step of a CA rotation made: the new http.p12, and what http_ca.crt must hold after it. */
export interface CaRotation {
  readonly p12: Buffer;
  /** PEM of the CAs clients must trust from now on, the one the node serves under first. */
  readonly trustPem: string;
  readonly newCa: CertificateDescription;
  readonly oldCa: CertificateDescription;
}

/** The PEM of the CAs a node's clients must trust: the CA it serves under, then the next one of a rotation under way. */
export function trustedCasPem(p12: Buffer, password: string, source: string): string {
  const entries = readPkcs12Certificates(p12, password, source);
  return ['http_ca', 'http_ca_next'].map((alias) => entries.find((entry) => entry.alias === alias)?.pem).filter((pem): pem is string => pem !== undefined).join('');
}

/**
 * The two steps of an HTTP CA rotation, as Kubernetes rotates its CA: `start`
 * makes a new CA of the old one's key type and adds it beside the old one (the
 * node keeps serving its certificate from the old CA; clients are to trust
 * both); `finish` serves a new certificate from the new CA, and the old one is
 * dropped. Clients that refreshed their CA file in between never see a
 * certificate they do not trust.
 */
export async function rotateHttpCa(p12: Buffer, password: string, source: string, step: 'start' | 'finish', now = new Date()): Promise<CaRotation> {
  const current = openHttpP12(p12, password, source);
  if (step === 'start') {
    if (current.next) throw new SecurenodeError('ERR_CA_ROTATION', `a rotation of the HTTP CA is already under way (the new CA ${current.next.certificate.fingerprint256.replace(/:/g, '').toLowerCase()} was made on ${new Date(current.next.certificate.validFrom).toISOString()}); finish it with \`securenode certs rotate-ca http --finish\``);
    const oldKey = current.ca.certificate.publicKey;
    const spec: KeySpec = oldKey.asymmetricKeyType === 'rsa' ? { type: 'rsa', bits: oldKey.asymmetricKeyDetails?.modulusLength ?? certificateProfiles.httpCa.bits } : { type: 'ec' };
    // A name of its own, so that the two CAs are told apart wherever they are listed.
    const next = issueCertificate({ commonName: `${certificateProfiles.httpCa.commonName} ${now.toISOString().slice(0, 10)}`, profile: 'ca', validityDays: certificateProfiles.httpCa.validityDays, notBefore: now, ...(await generateKeyPairFor(spec)) });
    return {
      p12: buildHttpP12(current.ca, current.leaf, password, next),
      trustPem: current.ca.certificate.toString() + next.certificate.toString(),
      newCa: describeCertificate('http_ca', next.certificate.toString()),
      oldCa: describeCertificate('http_ca', current.ca.certificate.toString()),
    };
  }
  if (!current.next) throw new SecurenodeError('ERR_CA_ROTATION', 'no rotation of the HTTP CA is under way: start one with `securenode certs rotate-ca http`');
  const leaf = await issueLeafLike(current.leaf.certificate, current.next, { notBefore: now });
  return {
    p12: buildHttpP12(current.next, leaf, password),
    trustPem: current.next.certificate.toString(),
    newCa: describeCertificate('http_ca', current.next.certificate.toString()),
    oldCa: describeCertificate('http_ca', current.ca.certificate.toString()),
  };
}

/** What a transport renewal made. */
export interface TransportRenewal {
  readonly p12: Buffer;
  readonly previous: CertificateDescription;
  readonly renewed: CertificateDescription;
}

/**
 * A new transport certificate and key for this node, from the cluster's
 * transport CA (so every other node accepts it), when transport.p12 keeps the
 * CA's key: a cluster made before it was kept has none, and says so.
 */
export async function renewTransportP12(p12: Buffer, password: string, source: string, nodeName: string, options: Pick<HttpRenewalOptions, 'validityDays' | 'notBefore'> = {}): Promise<TransportRenewal> {
  const entries = readPkcs12Certificates(p12, password, source);
  const leafPem = entries.find((entry) => entry.alias === 'transport')?.pem;
  const caPem = entries.find((entry) => entry.alias === 'transport_ca')?.pem;
  if (!leafPem || !caPem) throw new SecurenodeError('ERR_TLS_MATERIAL', `${source} holds no ${leafPem ? 'transport_ca' : 'transport'} entry; it was not written by auto-configuration, so securenode cannot renew it`);
  let caKey: KeyObject;
  try {
    caKey = readPkcs12Key(p12, password, source, 'transport_ca_key');
  } catch {
    throw new SecurenodeError(
      'ERR_TLS_MATERIAL',
      `${source} holds the transport CA's certificate but not its key: this cluster was made before securenode kept it, so no node can sign a new transport certificate. Its certificate lasts until ${new Date(new X509Certificate(leafPem).validTo).toISOString()}; a cluster made now keeps the key`,
    );
  }
  const caCertificate = new X509Certificate(caPem);
  const ca: IssuedCertificate = { certificate: caCertificate, privateKey: caKey, keyId: keyIdentifier(caCertificate.publicKey), commonName: commonNameOf(caCertificate) };
  const leaf = new X509Certificate(leafPem);
  const spec: KeySpec = leaf.publicKey.asymmetricKeyType === 'rsa' ? { type: 'rsa', bits: leaf.publicKey.asymmetricKeyDetails?.modulusLength ?? 2048 } : { type: 'ec' };
  const notBefore = options.notBefore ?? new Date();
  const untilCa = Math.floor((new Date(caCertificate.validTo).getTime() - notBefore.getTime()) / day);
  const renewed = issueCertificate({ commonName: nodeName, profile: 'server-and-client', validityDays: Math.max(1, Math.min(options.validityDays ?? certificateProfiles.transportValidityDays, untilCa)), notBefore, issuer: ca, ...(await generateKeyPairFor(spec)) });
  return {
    p12: buildTransportP12(caCertificate, renewed, password, caKey),
    previous: describeCertificate('transport', leafPem),
    renewed: describeCertificate('transport', renewed.certificate.toString()),
  };
}

import { X509Certificate, type KeyObject } from 'node:crypto';
import { SecurenodeError } from '../errors.js';
import { issueCertificate, type IssuedCertificate, type SubjectAltName } from './certificate.js';
import { sha256Fingerprint } from './fingerprint.js';
import { generateKeyPairFor, keyIdentifier, type KeySpec } from './keys.js';
import { readPkcs12Certificates, readPkcs12Key } from './read-pkcs12.js';
import { buildHttpP12, certificateProfiles } from './tls-material.js';

const day = 86_400_000;

/** What `certs status` says of one certificate. */
export interface CertificateDescription {
  readonly name: 'http_ca' | 'http' | 'transport_ca' | 'transport';
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

/** The four certificates of a node's TLS files, HTTP CA and leaf, transport CA and leaf. */
export function describeTlsCertificates(tls: { readonly httpCaPem: string; readonly httpCertificatePem: string; readonly transportCaPem: string; readonly transportP12: Buffer; readonly transportP12Password: string }, now = Date.now()): CertificateDescription[] {
  const transport = readPkcs12Certificates(tls.transportP12, tls.transportP12Password, 'transport.p12').find((entry) => entry.alias === 'transport');
  return [
    describeCertificate('http_ca', tls.httpCaPem, now),
    describeCertificate('http', tls.httpCertificatePem, now),
    describeCertificate('transport_ca', tls.transportCaPem, now),
    ...(transport ? [describeCertificate('transport', transport.pem, now)] : []),
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

/**
 * A new HTTP leaf from the HTTP CA that http.p12 holds (the same CA, so every
 * client keeps trusting the node): a new key of the old one's kind, the old
 * leaf's name and SANs (and any added), a full validity; in a new http.p12
 * with the same password, so that the keystore does not change.
 */
export async function renewHttpP12(p12: Buffer, password: string, source: string, options: HttpRenewalOptions = {}): Promise<HttpRenewal> {
  const entries = readPkcs12Certificates(p12, password, source);
  const leafPem = entries.find((entry) => entry.alias === 'http')?.pem;
  const caPem = entries.find((entry) => entry.alias === 'http_ca')?.pem;
  if (!leafPem || !caPem) throw new SecurenodeError('ERR_TLS_MATERIAL', `${source} holds no ${leafPem ? 'http_ca' : 'http'} entry; it was not written by auto-configuration, so securenode cannot renew it`);
  let caKey: KeyObject;
  try {
    caKey = readPkcs12Key(p12, password, source, 'http_ca');
  } catch {
    throw new SecurenodeError('ERR_TLS_MATERIAL', `${source} holds the HTTP CA's certificate but not its key (a node that joined a cluster has it only if enrollment gave it); renew on the node whose http.p12 holds the CA key`);
  }
  const caCertificate = new X509Certificate(caPem);
  const leaf = new X509Certificate(leafPem);
  const ca: IssuedCertificate = { certificate: caCertificate, privateKey: caKey, keyId: keyIdentifier(caCertificate.publicKey), commonName: /^CN=(.*)$/m.exec(caCertificate.subject)?.[1] ?? caCertificate.subject };
  const spec: KeySpec = leaf.publicKey.asymmetricKeyType === 'rsa' ? { type: 'rsa', bits: leaf.publicKey.asymmetricKeyDetails?.modulusLength ?? 2048 } : { type: 'ec' };
  const keys = await generateKeyPairFor(spec);
  const names = subjectAltNamesOf(leaf);
  for (const added of options.addSubjectAltNames ?? []) if (!names.some((name) => name.kind === added.kind && name.value === added.value)) names.push(added);
  // Never past the CA: a leaf that outlives its issuer fails at the CA's end anyway.
  const wanted = options.validityDays ?? certificateProfiles.httpValidityDays;
  const notBefore = options.notBefore ?? new Date();
  const untilCa = Math.floor((new Date(caCertificate.validTo).getTime() - notBefore.getTime()) / day);
  const renewed = issueCertificate({
    commonName: /^CN=(.*)$/m.exec(leaf.subject)?.[1] ?? 'securenode',
    profile: 'server',
    validityDays: Math.max(1, Math.min(wanted, untilCa)),
    notBefore,
    subjectAltNames: names,
    issuer: ca,
    ...keys,
  });
  return {
    p12: buildHttpP12(ca, renewed, password),
    certificatePem: renewed.certificate.toString(),
    previous: describeCertificate('http', leafPem),
    renewed: describeCertificate('http', renewed.certificate.toString()),
  };
}

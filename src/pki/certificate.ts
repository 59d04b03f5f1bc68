import { randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { keyIdentifier } from './keys.js';

/** A subject alternative name: a DNS name or an IP address. */
export type SubjectAltName = { kind: 'dns'; value: string } | { kind: 'ip'; value: string };

/** What a certificate is for; decides its key usages and extensions. */
export type CertificateProfile = 'ca' | 'server' | 'server-and-client';

/** A certificate with the key that was certified and its key identifier. */
export interface IssuedCertificate {
  readonly certificate: X509Certificate;
  readonly privateKey: KeyObject;
  readonly keyId: Buffer;
  readonly commonName: string;
}

/** What issueCertificate needs. */
export interface CertificateRequest {
  readonly commonName: string;
  readonly profile: CertificateProfile;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly validityDays: number;
  readonly subjectAltNames?: readonly SubjectAltName[];
  /** The issuing CA; omitted for a self-signed CA. */
  readonly issuer?: IssuedCertificate;
  /** Start of validity; defaults to now. */
  readonly notBefore?: Date;
}

const day = 86_400_000;

/** forge exports getTBSCertificate, but its type declarations omit it. */
interface ForgeTbs {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
}

/**
 * Build a certificate with node-forge and sign it with Node's native crypto.sign
 * (SHA-256 with RSA). forge's own signing is pure JavaScript and defaults to SHA-1.
 */
export function issueCertificate(request: CertificateRequest): IssuedCertificate {
  if (request.profile !== 'ca' && !request.issuer) throw new TypeError('a leaf certificate needs an issuer');
  const keyId = keyIdentifier(request.publicKey);
  const issuerKeyId = request.issuer?.keyId ?? keyId;
  const signingKey = request.issuer?.privateKey ?? request.privateKey;

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(request.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = randomSerial();
  const notBefore = request.notBefore ?? new Date();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = new Date(notBefore.getTime() + request.validityDays * day);
  cert.setSubject(distinguishedName(request.commonName));
  cert.setIssuer(distinguishedName(request.issuer?.commonName ?? request.commonName));
  cert.setExtensions(extensionsFor(request, issuerKeyId));

  cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption!;
  cert.signatureOid = forge.pki.oids.sha256WithRSAEncryption!;
  const tbs = (forge.pki as unknown as ForgeTbs).getTBSCertificate(cert);
  const tbsDer = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  cert.tbsCertificate = tbs;
  cert.signature = sign('sha256', tbsDer, signingKey).toString('binary');
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return { certificate: new X509Certificate(der), privateKey: request.privateKey, keyId, commonName: request.commonName };
}

function extensionsFor(request: CertificateRequest, issuerKeyId: Buffer): object[] {
  const identifiers = [
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: issuerKeyId.toString('binary') },
  ];
  if (request.profile === 'ca') {
    return [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      ...identifiers,
    ];
  }
  const extensions: object[] = [
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: request.profile === 'server-and-client' },
    ...identifiers,
  ];
  const altNames = request.subjectAltNames ?? [];
  if (altNames.length > 0) {
    extensions.push({
      name: 'subjectAltName',
      altNames: altNames.map((name) => (name.kind === 'dns' ? { type: 2, value: name.value } : { type: 7, ip: name.value })),
    });
  }
  return extensions;
}

/** CN as a UTF8String: forge's default PrintableString cannot hold '_' or non-ASCII node names. */
function distinguishedName(commonName: string): forge.pki.CertificateField[] {
  return [{ name: 'commonName', value: commonName, valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class }];
}

/** A random positive serial of 20 bytes at most (RFC 5280), minimally encoded. */
function randomSerial(): string {
  const bytes = randomBytes(20);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex');
}

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

const { asn1 } = forge;
/** The signature algorithms: SHA-256 with the signing key's type; RSA's identifier carries NULL parameters, ECDSA's none (RFC 5758). */
const signatureAlgorithms = { rsa: '1.2.840.113549.1.1.11', ec: '1.2.840.10045.4.3.2' } as const;

function algorithmIdentifier(type: 'rsa' | 'ec'): forge.asn1.Asn1 {
  const id = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(signatureAlgorithms[type]).getBytes());
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, type === 'rsa' ? [id, asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')] : [id]);
}

/** The key types a certificate may have; anything else is refused rather than signed wrongly. */
function keyTypeOf(key: KeyObject): 'rsa' | 'ec' {
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'ec') return key.asymmetricKeyType;
  throw new TypeError(`a certificate key must be RSA or EC (P-256), not ${key.asymmetricKeyType}`);
}

/** A stand-in public key for forge, which lays out the TBSCertificate but knows RSA keys only; its SubjectPublicKeyInfo is replaced. */
const placeholderKey = forge.pki.setRsaPublicKey(new forge.jsbn.BigInteger('3'), new forge.jsbn.BigInteger('3'));

/**
 * Build a certificate: node-forge lays out the TBSCertificate (names, validity,
 * extensions), the key's own SubjectPublicKeyInfo from Node goes in as it is
 * (RSA or EC), and Node's native crypto.sign signs it, SHA-256 with RSA or
 * ECDSA as the issuer's key is. forge's own signing is pure JavaScript, RSA
 * only, and defaults to SHA-1.
 */
export function issueCertificate(request: CertificateRequest): IssuedCertificate {
  if (request.profile !== 'ca' && !request.issuer) throw new TypeError('a leaf certificate needs an issuer');
  const keyId = keyIdentifier(request.publicKey);
  const issuerKeyId = request.issuer?.keyId ?? keyId;
  const signingKey = request.issuer?.privateKey ?? request.privateKey;
  const signatureType = keyTypeOf(signingKey);

  const cert = forge.pki.createCertificate();
  cert.publicKey = placeholderKey;
  // forge derives the subjectKeyIdentifier extension from the certificate's key: the real key's, not the stand-in's.
  (cert as unknown as { generateSubjectKeyIdentifier(): forge.util.ByteStringBuffer }).generateSubjectKeyIdentifier = () => forge.util.createBuffer(keyId.toString('binary'));
  cert.serialNumber = randomSerial();
  const notBefore = request.notBefore ?? new Date();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = new Date(notBefore.getTime() + request.validityDays * day);
  cert.setSubject(distinguishedName(request.commonName));
  cert.setIssuer(distinguishedName(request.issuer?.commonName ?? request.commonName));
  cert.setExtensions(extensionsFor(request, issuerKeyId, keyTypeOf(request.publicKey)));

  // forge writes an algorithm here; it is replaced below with the one that matches the signing key.
  cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption!;
  const tbs = (forge.pki as unknown as ForgeTbs).getTBSCertificate(cert);
  const fields = tbs.value as forge.asn1.Asn1[];
  // TBSCertificate: [0] version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, [3] extensions.
  fields[2] = algorithmIdentifier(signatureType);
  fields[6] = asn1.fromDer(request.publicKey.export({ type: 'spki', format: 'der' }).toString('binary'));
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, signingKey);
  const certificate = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithmIdentifier(signatureType),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${signature.toString('binary')}`),
  ]);
  const der = Buffer.from(asn1.toDer(certificate).getBytes(), 'binary');
  return { certificate: new X509Certificate(der), privateKey: request.privateKey, keyId, commonName: request.commonName };
}

function extensionsFor(request: CertificateRequest, issuerKeyId: Buffer, keyType: 'rsa' | 'ec'): object[] {
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
    // keyEncipherment is RSA key transport; an EC key signs (ECDHE) only.
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: keyType === 'rsa', critical: true },
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

import { createHash, X509Certificate } from 'node:crypto';

/**
 * SHA-256 of a certificate's DER in compact lowercase hex: the enrollment
 * token's fgr, and `openssl x509 -noout -fingerprint -sha256` without colons.
 */
export function sha256Fingerprint(certificate: Buffer | string | X509Certificate): string {
  const der = certificate instanceof X509Certificate ? certificate.raw : typeof certificate === 'string' ? new X509Certificate(certificate).raw : certificate;
  return createHash('sha256').update(der).digest('hex');
}

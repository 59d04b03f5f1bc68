import forge from 'node-forge';
import { SecurenodeError } from '../errors.js';

/** A certificate of a PKCS#12 file, with its alias (friendlyName) when it has one. */
export interface Pkcs12Certificate {
  readonly alias: string | undefined;
  readonly pem: string;
}

/**
 * The certificates of a PKCS#12 file (the MAC is checked with the password).
 * Node's TLS reads keys from a .p12 itself; this is for the CA a peer must chain to.
 */
export function readPkcs12Certificates(der: Buffer, password: string, source: string): Pkcs12Certificate[] {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString('binary')), true, password);
  } catch {
    throw new SecurenodeError('ERR_TLS_MATERIAL', `cannot open ${source}: the file is damaged or its password in the keystore is wrong`);
  }
  const bags = p12.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [];
  return bags.filter((bag) => bag.cert).map((bag) => ({ alias: bag.attributes.friendlyName?.[0] as string | undefined, pem: forge.pki.certificateToPem(bag.cert!) }));
}

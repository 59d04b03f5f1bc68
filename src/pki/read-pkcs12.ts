import { createPrivateKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { SecurenodeError } from '../errors.js';

/** A certificate of a PKCS#12 file, with its alias (friendlyName) when it has one. */
export interface Pkcs12Certificate {
  readonly alias: string | undefined;
  readonly pem: string;
}

function openPkcs12(der: Buffer, password: string, source: string): forge.pkcs12.Pkcs12Pfx {
  try {
    return forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString('binary')), true, password);
  } catch {
    throw new SecurenodeError('ERR_TLS_MATERIAL', `cannot open ${source}: the file is damaged or its password in the keystore is wrong`);
  }
}

const aliasOf = (bag: forge.pkcs12.Bag): string | undefined => bag.attributes.friendlyName?.[0] as string | undefined;

/**
 * The certificates of a PKCS#12 file (the MAC is checked with the password).
 * Node's TLS reads keys from a .p12 itself; this is for the CA a peer must chain to.
 */
export function readPkcs12Certificates(der: Buffer, password: string, source: string): Pkcs12Certificate[] {
  const bags = openPkcs12(der, password, source).getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [];
  return bags.filter((bag) => bag.cert).map((bag) => ({ alias: aliasOf(bag), pem: forge.pki.certificateToPem(bag.cert!) }));
}

/** The private key stored under `alias`, as a native key (node enrollment hands CA and transport keys over). */
export function readPkcs12Key(der: Buffer, password: string, source: string, alias: string): KeyObject {
  const oid = forge.pki.oids.pkcs8ShroudedKeyBag!;
  const bag = (openPkcs12(der, password, source).getBags({ bagType: oid })[oid] ?? []).find((candidate) => aliasOf(candidate) === alias);
  if (!bag?.key) throw new SecurenodeError('ERR_TLS_MATERIAL', `${source} holds no key entry "${alias}"; restore the file auto-configuration wrote`);
  return createPrivateKey(forge.pki.privateKeyToPem(bag.key));
}

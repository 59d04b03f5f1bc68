import { createHmac, createPrivateKey, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { SecurenodeError } from '../errors.js';
import { pkcs12Oids } from './pkcs12.js';

/** A certificate of a PKCS#12 file, with its alias (friendlyName) when it has one. */
export interface Pkcs12Certificate {
  readonly alias: string | undefined;
  readonly pem: string;
}

/** A bag of a PKCS#12 file: a certificate's DER, or a shrouded key's EncryptedPrivateKeyInfo DER. */
interface Bag {
  readonly kind: 'certificate' | 'key';
  readonly alias: string | undefined;
  readonly der: Buffer;
}

const { asn1 } = forge;
const oids = pkcs12Oids;

/** OpenSSL writes 2048; a million is generous, and costs about a second. */
const maxMacIterations = 1_000_000;

const damaged = (source: string) => new SecurenodeError('ERR_TLS_MATERIAL', `cannot open ${source}: the file is damaged or its password in the keystore is wrong`);
/** A file this reader does not walk (encrypted safe contents, as OpenSSL writes by default): forge reads those. */
class Unsupported extends Error {}

const items = (node: forge.asn1.Asn1): forge.asn1.Asn1[] => {
  if (!Array.isArray(node.value)) throw new Unsupported('not a constructed value');
  return node.value;
};
const bytes = (node: forge.asn1.Asn1): Buffer => {
  if (typeof node.value !== 'string') throw new Unsupported('a constructed OCTET STRING');
  return Buffer.from(node.value, 'binary');
};
const oidOf = (node: forge.asn1.Asn1): string => asn1.derToOid(node.value as string);
const parse = (der: Buffer): forge.asn1.Asn1 => (asn1.fromDer as unknown as (input: string, options: { decodeBitStrings: boolean }) => forge.asn1.Asn1)(der.toString('binary'), { decodeBitStrings: false });

/** The MAC over the safe contents, checked with the password (PKCS#12 key derivation, HMAC with SHA-256 or SHA-1), in constant time. */
function macMatches(content: Buffer, macData: forge.asn1.Asn1, password: string): boolean {
  const [digestInfo, salt, iterations] = items(macData);
  const [algorithm, digest] = items(digestInfo!);
  const digestOid = oidOf(items(algorithm!)[0]!);
  const hash = digestOid === oids.sha256 ? { name: 'sha256', md: forge.md.sha256.create(), length: 32 } : digestOid === oids.sha1 ? { name: 'sha1', md: forge.md.sha1.create(), length: 20 } : undefined;
  if (!hash) throw new Unsupported(`MAC digest ${digestOid}`);
  const rounds = iterations ? asn1.derToInteger(iterations.value as string) : 1;
  // Bounded before any work, as the keystore's scrypt is: a tampered file must not make the start spin for minutes.
  if (!(rounds >= 1 && rounds <= maxMacIterations)) return false;
  const key = forge.pkcs12.generateKey(password, forge.util.createBuffer(bytes(salt!).toString('binary')), 3, rounds, hash.length, hash.md);
  const computed = createHmac(hash.name, Buffer.from(key.getBytes(), 'binary')).update(content).digest();
  const expected = bytes(digest!);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

/**
 * The bags of a PKCS#12 file whose safe contents are plain data (as
 * buildPkcs12 writes them), for any key type: keys stay encrypted until Node
 * opens them with the password. The MAC is checked first.
 */
function readBags(der: Buffer, password: string, source: string): Bag[] {
  let pfx: forge.asn1.Asn1;
  try {
    pfx = parse(der);
  } catch {
    throw damaged(source);
  }
  const [, authSafe, macData] = items(pfx);
  const [contentType, wrapped] = items(authSafe!);
  if (oidOf(contentType!) !== oids.data) throw new Unsupported('authSafe is not data');
  const content = bytes(items(wrapped!)[0]!);
  if (!macData || !macMatches(content, macData, password)) throw damaged(source);
  const bags: Bag[] = [];
  for (const info of items(parse(content))) {
    const [type, value] = items(info);
    if (oidOf(type!) !== oids.data) throw new Unsupported('encrypted safe contents');
    for (const bag of items(parse(bytes(items(value!)[0]!)))) {
      const [bagId, bagValue, attributes] = items(bag);
      const alias = attributes ? items(attributes).map(items).find(([name]) => oidOf(name!) === oids.friendlyName)?.[1] : undefined;
      const name = alias ? (items(alias)[0]!.value as string) : undefined;
      const id = oidOf(bagId!);
      const inner = items(bagValue!)[0]!;
      if (id === oids.certBag) {
        const [certType, certValue] = items(inner);
        if (oidOf(certType!) === oids.x509Certificate) bags.push({ kind: 'certificate', alias: name, der: bytes(items(certValue!)[0]!) });
      } else if (id === oids.shroudedKeyBag) {
        bags.push({ kind: 'key', alias: name, der: Buffer.from(asn1.toDer(inner).getBytes(), 'binary') });
      }
    }
  }
  return bags;
}

/** The bags, by this reader, or undefined for a file it does not walk (then forge reads it: RSA keys only). */
function ownBags(der: Buffer, password: string, source: string): Bag[] | undefined {
  try {
    return readBags(der, password, source);
  } catch (error) {
    if (error instanceof SecurenodeError) throw error;
    return undefined;
  }
}

function openWithForge(der: Buffer, password: string, source: string): forge.pkcs12.Pkcs12Pfx {
  try {
    return forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString('binary')), true, password);
  } catch {
    throw damaged(source);
  }
}

const aliasOf = (bag: forge.pkcs12.Bag): string | undefined => bag.attributes.friendlyName?.[0] as string | undefined;

/**
 * The certificates of a PKCS#12 file (the MAC is checked with the password).
 * Node's TLS reads keys from a .p12 itself; this is for the CA a peer must chain to.
 */
export function readPkcs12Certificates(der: Buffer, password: string, source: string): Pkcs12Certificate[] {
  const own = ownBags(der, password, source);
  if (own) return own.filter((bag) => bag.kind === 'certificate').map((bag) => ({ alias: bag.alias, pem: new X509Certificate(bag.der).toString() }));
  const bags = openWithForge(der, password, source).getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [];
  return bags.filter((bag) => bag.cert).map((bag) => ({ alias: aliasOf(bag), pem: forge.pki.certificateToPem(bag.cert!) }));
}

/** The private key stored under `alias`, as a native key (node enrollment hands CA and transport keys over). */
export function readPkcs12Key(der: Buffer, password: string, source: string, alias: string): KeyObject {
  const missing = () => new SecurenodeError('ERR_TLS_MATERIAL', `${source} holds no key entry "${alias}"; restore the file auto-configuration wrote`);
  const own = ownBags(der, password, source);
  if (own) {
    const bag = own.find((candidate) => candidate.kind === 'key' && candidate.alias === alias);
    if (!bag) throw missing();
    return createPrivateKey({ key: bag.der, format: 'der', type: 'pkcs8', passphrase: password });
  }
  const oid = forge.pki.oids.pkcs8ShroudedKeyBag!;
  const bag = (openWithForge(der, password, source).getBags({ bagType: oid })[oid] ?? []).find((candidate) => aliasOf(candidate) === alias);
  if (!bag?.key) throw missing();
  return createPrivateKey(forge.pki.privateKeyToPem(bag.key));
}

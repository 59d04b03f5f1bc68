import { createHash, createHmac, randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import forge from 'node-forge';

/** A key entry (key, its certificate and chain) or a trusted certificate entry. */
export type Pkcs12Entry =
  | { kind: 'key'; alias: string; privateKey: KeyObject; chain: readonly X509Certificate[] }
  | { kind: 'trusted'; alias: string; certificate: X509Certificate };

const { asn1 } = forge;
/** The object identifiers of the PKCS#12 files securenode writes and reads. */
export const pkcs12Oids = {
  data: '1.2.840.113549.1.7.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha1: '1.3.14.3.2.26',
  /** Java's mark of a trusted certificate entry; its value is anyExtendedKeyUsage. */
  javaTrustedKeyUsage: '2.16.840.1.113894.746875.1.1',
  anyExtendedKeyUsage: '2.5.29.37.0',
};
const oid = pkcs12Oids;
/** MAC iterations, OpenSSL's default; the passwords are 32 random bytes, so more would add nothing. */
const macIterations = 2048;

const seq = (items: forge.asn1.Asn1[]) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
const set = (items: forge.asn1.Asn1[]) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, items);
const oidNode = (value: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(value).getBytes());
const octets = (bytes: Buffer) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes.toString('binary'));
const integer = (value: number) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(value).getBytes());
const explicit0 = (item: forge.asn1.Asn1) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [item]);
const toDer = (item: forge.asn1.Asn1) => Buffer.from(asn1.toDer(item).getBytes(), 'binary');

function attributes(alias: string, localKeyId?: Buffer, trusted = false): forge.asn1.Asn1 {
  const list = [seq([oidNode(oid.friendlyName), set([asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, alias)])])];
  if (localKeyId) list.push(seq([oidNode(oid.localKeyId), set([octets(localKeyId)])]));
  if (trusted) list.push(seq([oidNode(oid.javaTrustedKeyUsage), set([oidNode(oid.anyExtendedKeyUsage)])]));
  return set(list);
}

function certBag(certificate: X509Certificate, bagAttributes?: forge.asn1.Asn1): forge.asn1.Asn1 {
  const value = seq([oidNode(oid.x509Certificate), explicit0(octets(certificate.raw))]);
  return seq([oidNode(oid.certBag), explicit0(value), ...(bagAttributes ? [bagAttributes] : [])]);
}

function shroudedKeyBag(privateKey: KeyObject, password: string, bagAttributes: forge.asn1.Asn1): forge.asn1.Asn1 {
  // Node (OpenSSL 3) encrypts natively with PBES2: PBKDF2-HMAC-SHA-256, 2048 iterations,
  // AES-256-CBC, as `openssl pkcs12 -export` does; forge's JavaScript path takes 100 times longer.
  const encrypted = privateKey.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: password });
  return seq([oidNode(oid.shroudedKeyBag), explicit0(asn1.fromDer(encrypted.toString('binary'))), bagAttributes]);
}

function dataContentInfo(content: Buffer): forge.asn1.Asn1 {
  return seq([oidNode(oid.data), explicit0(octets(content))]);
}

/**
 * Build a PKCS#12 file that OpenSSL 3 opens without -legacy: shrouded keys under
 * AES-256-CBC with PBKDF2-HMAC-SHA-256, and an HMAC-SHA-256 integrity MAC
 * (forge's own PKCS#12 writer offers neither the MAC digest nor several keys). Key
 * entries come first, in order, so that OpenSSL (and so Node's `pfx`) picks the
 * first key entry as the server key and the other certificates as its chain.
 */
export function buildPkcs12(entries: readonly Pkcs12Entry[], password: string): Buffer {
  const keyBags: forge.asn1.Asn1[] = [];
  const certBags: forge.asn1.Asn1[] = [];
  const included = new Set<string>();
  for (const entry of entries) {
    if (entry.kind === 'key') {
      const [leaf] = entry.chain;
      if (!leaf) throw new TypeError(`key entry '${entry.alias}' needs a certificate`);
      const localKeyId = createHash('sha1').update(leaf.raw).digest();
      keyBags.push(shroudedKeyBag(entry.privateKey, password, attributes(entry.alias, localKeyId)));
      certBags.push(certBag(leaf, attributes(entry.alias, localKeyId)));
      included.add(leaf.fingerprint256);
    } else {
      certBags.push(certBag(entry.certificate, attributes(entry.alias, undefined, true)));
      included.add(entry.certificate.fingerprint256);
    }
  }
  for (const entry of entries) {
    if (entry.kind !== 'key') continue;
    for (const certificate of entry.chain.slice(1)) {
      if (included.has(certificate.fingerprint256)) continue;
      included.add(certificate.fingerprint256);
      certBags.push(certBag(certificate));
    }
  }
  const authenticatedSafe = toDer(seq([dataContentInfo(toDer(seq(keyBags))), dataContentInfo(toDer(seq(certBags)))]));
  const macSalt = randomBytes(16);
  const macKey = forge.pkcs12.generateKey(password, forge.util.createBuffer(macSalt.toString('binary')), 3, macIterations, 32, forge.md.sha256.create());
  const mac = createHmac('sha256', Buffer.from(macKey.getBytes(), 'binary')).update(authenticatedSafe).digest();
  const macData = seq([seq([seq([oidNode(oid.sha256), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]), octets(mac)]), octets(macSalt), integer(macIterations)]);
  return toDer(seq([integer(3), dataContentInfo(authenticatedSafe), macData]));
}

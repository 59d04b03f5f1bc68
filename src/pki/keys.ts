import { createHash, generateKeyPair as generateNative, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

/** What key a certificate gets: ECDSA on P-256 (the default), or RSA of a size. */
export type KeySpec = { readonly type: 'ec' } | { readonly type: 'rsa'; readonly bits: number };

/** A key pair as Node KeyObjects. */
export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** @deprecated the name of KeyPair when every key was RSA. */
export type RsaKeyPair = KeyPair;

/**
 * Generate a key with Node's native, asynchronous generator: it runs on the
 * libuv thread pool, so several keys are made in parallel. A P-256 key takes
 * well under a millisecond; an RSA key's prime search takes most of a first
 * start (node-forge's pure-JavaScript generator takes about 24 s for one
 * 4096-bit key).
 */
export function generateKeyPairFor(spec: KeySpec): Promise<KeyPair> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, publicKey: KeyObject, privateKey: KeyObject) => (error ? reject(error) : resolve({ publicKey, privateKey }));
    if (spec.type === 'ec') generateNative('ec', { namedCurve: 'P-256' }, done);
    else generateNative('rsa', { modulusLength: spec.bits, publicExponent: 0x10001 }, done);
  });
}

/** An RSA key pair of `bits`. */
export function generateRsaKeyPair(bits: number): Promise<KeyPair> {
  return generateKeyPairFor({ type: 'rsa', bits });
}

/** forge's fromDer with decodeBitStrings off, which its type declarations omit. */
const fromDerKeepingBits = (bytes: string): forge.asn1.Asn1 => (forge.asn1.fromDer as unknown as (input: string, options: { decodeBitStrings: boolean }) => forge.asn1.Asn1)(bytes, { decodeBitStrings: false });

/** The subjectPublicKey bits of a key: the RSAPublicKey DER of an RSA key, the curve point of an EC key. */
export function subjectPublicKeyBits(publicKey: KeyObject): Buffer {
  // decodeBitStrings off: the key bits stay bytes (forge would otherwise parse an RSA key's bits as ASN.1).
  const spki = fromDerKeepingBits(publicKey.export({ type: 'spki', format: 'der' }).toString('binary'));
  const bitString = (spki.value as forge.asn1.Asn1[])[1]!.value as string;
  // The first byte of a BIT STRING counts its unused bits (0 here).
  return Buffer.from(bitString, 'binary').subarray(1);
}

/** RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits, for any key type. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha1').update(subjectPublicKeyBits(publicKey)).digest();
}

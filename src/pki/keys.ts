import { createHash, generateKeyPair, type KeyObject } from 'node:crypto';

/** An RSA key pair as Node KeyObjects. */
export interface RsaKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/**
 * Generate an RSA key with Node's native, asynchronous generator: it runs on the
 * libuv thread pool, so several keys are made in parallel. (node-forge's
 * pure-JavaScript generator takes about 24 s for one 4096-bit key.)
 */
export function generateRsaKeyPair(bits: number): Promise<RsaKeyPair> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: bits, publicExponent: 0x10001 }, (error, publicKey, privateKey) =>
      error ? reject(error) : resolve({ publicKey, privateKey }),
    );
  });
}

/** RFC 5280 method 1 key identifier: SHA-1 of the RSAPublicKey DER (the subjectPublicKey bits). */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha1').update(publicKey.export({ type: 'pkcs1', format: 'der' })).digest();
}

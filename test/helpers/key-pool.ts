// RSA key pairs made once and reused (for the key_type rsa sets), for tests about what is done with the
// keys (transactions, crashes, routes), not about making them: a TLS set's
// prime search (two 4096-bit keys) is most of a first start's time. Two keys of
// each size, handed out in turn, so that the two CAs of one set differ. They
// are kept as files beside the secrets ledger (one run of the suite) so that
// every test process, and the children a test starts, share them.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairFor, generateRsaKeyPair, type KeyPair, type KeySpec } from '../../src/pki/keys.js';
import { ledgerActive, ledgerDir } from './secrets-ledger.js';

const perSize = 2;
const poolDir = ledgerActive() ? join(ledgerDir, '..', 'key-pool') : join(tmpdir(), `securenode-key-pool-${process.getuid?.() ?? 'user'}`);
const loaded = new Map<string, Promise<KeyPair>>();
const handedOut = new Map<number, number>();

async function keyPair(bits: number, index: number): Promise<KeyPair> {
  const path = join(poolDir, `rsa-${bits}-${index}.pem`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(await readFile(path, 'utf8'));
  } catch {
    ({ privateKey } = await generateRsaKeyPair(bits));
    await mkdir(poolDir, { recursive: true, mode: 0o700 });
    // Written beside, then renamed: a process that reads it never sees half a key.
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await rename(temp, path);
  }
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** A key pair for `spec`, RSA ones from the pool (EC keys take well under a millisecond: made anew): pass as autoConfigure's generateKeyPair. */
export function pooledKeyPair(spec: KeySpec): Promise<KeyPair> {
  if (spec.type === 'ec') return generateKeyPairFor(spec);
  const { bits } = spec;
  const index = (handedOut.get(bits) ?? 0) % perSize;
  handedOut.set(bits, index + 1);
  const key = `${bits}-${index}`;
  if (!loaded.has(key)) loaded.set(key, keyPair(bits, index));
  return loaded.get(key)!;
}

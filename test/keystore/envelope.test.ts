import t from 'tap';
import { openEnvelope, sealEnvelope } from '../../src/keystore/envelope.js';

const fast = { name: 'scrypt', N: 2 ** 14, r: 8, p: 1 } as const;

t.test('seal then open returns the plaintext; each seal has a fresh salt and nonce', async (t) => {
  const a = await sealEnvelope(Buffer.from('hello'), 'pw', fast);
  const b = await sealEnvelope(Buffer.from('hello'), 'pw', fast);
  t.not(a.salt, b.salt);
  t.not(a.nonce, b.nonce);
  t.equal((await openEnvelope(JSON.stringify(a), 'pw', 'k')).toString(), 'hello');
  t.equal((await openEnvelope(JSON.stringify(await sealEnvelope(Buffer.alloc(0), '', fast)), '', 'k')).length, 0);
});

t.test('the password is normalised, so composed and decomposed accents are one password', async (t) => {
  const sealed = await sealEnvelope(Buffer.from('x'), 'caf\u00e9', fast);
  t.equal((await openEnvelope(JSON.stringify(sealed), 'cafe\u0301', 'k')).toString(), 'x');
});

t.test('every authenticated or structural field is checked', async (t) => {
  const sealed = await sealEnvelope(Buffer.from('secret-value'), 'pw', fast);
  const wrongPassword = { code: 'ERR_KEYSTORE_WRONG_PASSWORD', message: 'the keystore password is wrong, or the keystore /k was altered; nothing was changed' };
  await t.rejects(openEnvelope(JSON.stringify(sealed), 'other', '/k'), wrongPassword);
  const flip = (text: string): string => Buffer.from(Buffer.from(text, 'base64').map((byte, index) => (index === 0 ? byte ^ 1 : byte))).toString('base64');
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, ciphertext: flip(sealed.ciphertext) }), 'pw', '/k'), wrongPassword);
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, tag: flip(sealed.tag) }), 'pw', '/k'), wrongPassword);
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, salt: flip(sealed.salt) }), 'pw', '/k'), wrongPassword);
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, kdf: { ...sealed.kdf, r: 9 } }), 'pw', '/k'), wrongPassword, 'KDF parameters are authenticated');

  const damaged = (why: string) => ({ code: 'ERR_KEYSTORE_CORRUPT', message: `the keystore /k is damaged (${why}); restore it from a backup: a new keystore cannot bring back the passwords of the node's certificates, so without a backup move the home away and start a new one` });
  const text = JSON.stringify(sealed);
  await t.rejects(openEnvelope(text.slice(0, text.length / 2), 'pw', '/k'), damaged('it is truncated or not a securenode keystore'));
  await t.rejects(openEnvelope('', 'pw', '/k'), damaged('it is truncated or not a securenode keystore'));
  await t.rejects(openEnvelope('null', 'pw', '/k'), damaged('it is not a securenode keystore'));
  await t.rejects(openEnvelope('{"format":"other"}', 'pw', '/k'), damaged('it is not a securenode keystore'));
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, version: 2 }), 'pw', '/k'), damaged('format version 2 is not supported by this version of securenode'));
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, cipher: 'aes-128-gcm' }), 'pw', '/k'), damaged('unknown cipher'));
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, kdf: { ...sealed.kdf, N: 2 ** 30 } }), 'pw', '/k'), damaged('unsupported key derivation parameters'), 'a huge N is refused before any work');
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, kdf: { ...sealed.kdf, N: 20000 } }), 'pw', '/k'), damaged('unsupported key derivation parameters'));
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, kdf: { ...sealed.kdf, N: 2 ** 20, r: 32 } }), 'pw', '/k'), damaged('unsupported key derivation parameters'), '4 GiB of scrypt memory is refused');
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, kdf: { ...sealed.kdf, N: 2 ** 18, r: 8, p: 16 } }), 'pw', '/k'), damaged('unsupported key derivation parameters'), 'minutes of scrypt work are refused');
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, kdf: undefined }), 'pw', '/k'), damaged('unsupported key derivation parameters'));
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, kdf: { ...sealed.kdf, N: 2 ** 9 } }), 'pw', '/k'), damaged('unsupported key derivation parameters'), 'an N under the least a writer uses (2^10) is refused');
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, nonce: 'AAAA' }), 'pw', '/k'), damaged('bad nonce'));
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, salt: 42 }), 'pw', '/k'), damaged('bad salt'));
  await t.rejects(openEnvelope(JSON.stringify({ ...sealed, ciphertext: '%%%' }), 'pw', '/k'), damaged('bad ciphertext'));
});

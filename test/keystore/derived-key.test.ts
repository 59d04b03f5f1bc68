import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import t from 'tap';
import { sealEnvelope } from '../../src/keystore/envelope.js';
import { Keystore } from '../../src/keystore/keystore.js';

const envelopeOf = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as { salt: string; nonce: string; kdf: { N: number } };

t.test('saving again under the same password reuses the derived key (same salt, fresh nonce); another password, or weaker parameters, derive anew', async (t) => {
  const path = `${t.testdir()}/securenode.keystore`;
  const keystore = new Keystore();
  keystore.setString('a.b', 'one');
  await keystore.save(path, 'pw-1');
  const first = await envelopeOf(path);
  keystore.setString('c.d', 'two');
  await keystore.save(path, 'pw-1');
  const second = await envelopeOf(path);
  t.equal(second.salt, first.salt, 'no second derivation');
  t.not(second.nonce, first.nonce, 'a fresh nonce for each seal');
  t.same((await Keystore.load(path, 'pw-1')).list(), ['a.b', 'c.d'], 'and it opens');

  const loaded = await Keystore.load(path, 'pw-1');
  loaded.setString('e.f', 'three');
  await loaded.save(path, 'pw-1');
  t.equal((await envelopeOf(path)).salt, first.salt, 'a loaded keystore saves with the key its load derived');

  await loaded.save(path, 'pw-2');
  t.not((await envelopeOf(path)).salt, first.salt, 'a new password: a new salt and key');
  await t.rejects(Keystore.load(path, 'pw-1'), { code: 'ERR_KEYSTORE_WRONG_PASSWORD' });
  t.same((await Keystore.load(path, 'pw-2')).getString('e.f'), 'three');

  // A keystore sealed with older, weaker parameters is derived anew with today's on its next save.
  const weak = await sealEnvelope(Buffer.from(JSON.stringify({ entries: {} })), 'pw-3', { name: 'scrypt', N: 2 ** 14, r: 8, p: 1 });
  await (await import('node:fs/promises')).writeFile(path, JSON.stringify(weak));
  const old = await Keystore.load(path, 'pw-3');
  await old.save(path, 'pw-3');
  t.same([(await envelopeOf(path)).kdf.N, (await envelopeOf(path)).salt !== weak.salt], [2 ** 15, true], 'raised to 2^15 with a new salt');
});

t.test('a save under any other password than the cached one is never sealed with the cached key', async (t) => {
  const path = `${t.testdir()}/securenode.keystore`;
  const keystore = new Keystore();
  keystore.setString('a.b', 'one');
  await keystore.save(path, 'base-password');
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 20 }).filter((password) => password.normalize('NFC') !== 'base-password'), async (password) => {
      await keystore.save(path, password);
      const opened = await Keystore.load(path, password);
      await keystore.save(path, 'base-password');
      return opened.getString('a.b') === 'one';
    }),
    { numRuns: 8 },
  );
});

t.test('without a password the derivation costs the least the format allows (the file mode protects it); a password gets 2^15', async (t) => {
  const path = `${t.testdir()}/securenode.keystore`;
  const keystore = new Keystore();
  keystore.setString('a.b', 'one');
  await keystore.save(path, '');
  t.same((await envelopeOf(path)).kdf, { name: 'scrypt', N: 2 ** 10, r: 8, p: 1 }, 'no password: N = 2^10 (the empty password is the first guess at any cost)');
  const loaded = await Keystore.load(path, '');
  await loaded.save(path, 'now-a-password');
  t.same((await envelopeOf(path)).kdf, { name: 'scrypt', N: 2 ** 15, r: 8, p: 1 }, 'given a password: raised to 2^15');
  await (await Keystore.load(path, 'now-a-password')).save(path, '');
  t.equal((await envelopeOf(path)).kdf.N, 2 ** 10, 'and back');
});

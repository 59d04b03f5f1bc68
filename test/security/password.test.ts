import t from 'tap';
import { generatePassword, hashing, hashPassword, passwordAlphabet, verifyPassword } from '../../src/security/password.js';
import { hashingLimit } from '../../src/security/hash-slots.js';

t.test('generated passwords: 20 characters of the SPEC 3.1 alphabet, all different', async (t) => {
  t.equal(passwordAlphabet, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_=+');
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const password = generatePassword();
    t.match(password, /^[A-Za-z0-9*\-_=+]{20}$/);
    seen.add(password);
  }
  t.equal(seen.size, 200);
});

t.test('argon2id with OWASP parameters in PHC form; verify never throws', async (t) => {
  const phc = await hashPassword('correct horse');
  t.match(phc, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
  t.equal(await verifyPassword(phc, 'correct horse'), true);
  t.equal(await verifyPassword(phc, 'correct horsE'), false);
  t.equal(await verifyPassword('not a hash', 'x'), false);
  t.not(await hashPassword('correct horse'), phc, 'a fresh salt every time');
});

t.test('hashes and checks made at once take a slot each: the rest wait, every answer is still right', async (t) => {
  t.equal(hashing.limit, hashingLimit());
  const phc = await hashPassword('right');
  let most = 0;
  let waited = 0;
  let done = false;
  const watch = (async () => {
    while (!done) {
      most = Math.max(most, hashing.load.running);
      waited = Math.max(waited, hashing.load.waiting);
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  const count = hashing.limit + 6;
  const answers = await Promise.all([
    ...Array.from({ length: count }, (_, index) => verifyPassword(phc, index % 2 === 0 ? 'right' : 'wrong')),
    verifyPassword('$argon2id$v=19$m=19456,t=2,p=1$broken', 'right'),
    hashPassword('another').then((made) => verifyPassword(made, 'another')),
  ]);
  done = true;
  await watch;
  t.same(answers, [...Array.from({ length: count }, (_, index) => index % 2 === 0), false, true]);
  t.equal(most, hashing.limit, 'as many at once as the limit, no more');
  t.ok(waited >= 6, `the others waited their turn (${waited} at most)`);
  t.same(hashing.load, { running: 0, waiting: 0 });
});

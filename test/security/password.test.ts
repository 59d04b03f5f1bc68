import t from 'tap';
import { generatePassword, hashPassword, passwordAlphabet, verifyPassword } from '../../src/security/password.js';

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

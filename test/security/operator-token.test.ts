import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createOperatorToken, NonceLedger, verifyOperatorToken } from '../../src/security/operator-token.js';

const key = randomBytes(32);
const path = '/_security/user/elastic/_password';

t.test('a token is accepted once, for its method and path, before it expires', async (t) => {
  const ledger = new NonceLedger();
  const token = createOperatorToken(key, 'post', path, 1_000_000);
  t.equal(verifyOperatorToken(key, token, 'POST', path, ledger, 1_000_500), true);
  t.equal(verifyOperatorToken(key, token, 'POST', path, ledger, 1_000_600), false, 'single use');
  const other = createOperatorToken(key, 'POST', path, 1_000_000);
  t.equal(verifyOperatorToken(key, other, 'GET', path, ledger, 1_000_000), false, 'another method');
  t.equal(verifyOperatorToken(key, other, 'POST', '/_security/user/other/_password', ledger, 1_000_000), false, 'another path');
  t.equal(verifyOperatorToken(key, other, 'POST', path, ledger, 1_061_000), false, 'expired');
  t.equal(verifyOperatorToken(randomBytes(32), other, 'POST', path, ledger, 1_000_000), false, 'another key');
  t.equal(verifyOperatorToken(key, other, 'POST', path, ledger, 1_000_000), true, 'still valid: failures did not spend it');
});

t.test('malformed and altered tokens are refused', async (t) => {
  const ledger = new NonceLedger();
  const token = createOperatorToken(key, 'POST', path);
  const [payload, signature] = token.split('.') as [string, string];
  const longer = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), exp: Date.now() + 3_600_000 })).toString('base64url');
  for (const bad of ['', 'x', 'a.b.c', `${payload}.`, `${longer}.${signature}`, `${payload}.${signature.slice(0, -2)}`, `${Buffer.from('not json').toString('base64url')}.x`]) {
    t.equal(verifyOperatorToken(key, bad, 'POST', path, ledger), false, JSON.stringify(bad.slice(0, 20)));
  }
});

import t from 'tap';
import { looksLikeVaultReference, parseVaultReference } from '../../../src/settings/vault/reference.js';

t.test('every form of B1', async (t) => {
  const cases: [string, object][] = [
    ['{vault://env/pg-password}', { backend: 'env', resource: 'pg-password', options: {} }],
    ['{vault://env/pg-creds/username}', { backend: 'env', resource: 'pg-creds', key: 'username', options: {} }],
    ['{vault://hcv/team/db/creds/password}', { backend: 'hcv', resource: 'team/db/creds', key: 'password', options: {} }],
    ['{vault://hcv/team/db/creds/}', { backend: 'hcv', resource: 'team/db/creds', options: {} }],
    ['{vault://env//pg//creds/user}', { backend: 'env', resource: 'pg/creds', key: 'user', options: {} }],
    ['{vault://file/my%20secret}', { backend: 'file', resource: 'my secret', options: {} }],
    ['{vault://env/cert?prefix=SSL_&ttl=600}', { backend: 'env', resource: 'cert', options: { prefix: 'SSL_', ttl: '600' } }],
    ['{vault://hcv/db/password#2}', { backend: 'hcv', resource: 'db', key: 'password', options: {}, version: 2 }],
    ['{vault://hcv/db?mount=kv&kv_version=2#3}', { backend: 'hcv', resource: 'db', options: { mount: 'kv', kv_version: '2' }, version: 3 }],
    ['{vault://env/pg-creds:username}', { backend: 'env', resource: 'pg-creds:username', options: {} }],
  ];
  for (const [text, expected] of cases) t.same(parseVaultReference(text), { text, ...expected }, text);
});

t.test('every error of B1', async (t) => {
  const cases: [string, string][] = [
    ['{vault:///x}', 'reference url is missing host'],
    ['{vault://env}', 'reference url is missing path'],
    ['{vault://env/}', 'reference url has empty path'],
    ['{vault://env///}', 'reference url has empty path'],
    ['{vault://env/%E0%A4%A}', 'reference url has invalid path'],
    ['{vault://env/x#abc}', 'reference url has invalid version'],
    ['{vault://env/x#-1}', 'reference url has invalid version'],
    ['{vault://env/x#}', 'reference url has invalid version'],
    ['vault://env/x', 'not a vault reference: it must start with {vault:// and end with }'],
  ];
  for (const [text, message] of cases) t.throws(() => parseVaultReference(text), { name: 'VaultReferenceError', message }, text);
});

t.test('recognition', async (t) => {
  t.equal(looksLikeVaultReference('{vault://env/x}'), true);
  t.equal(looksLikeVaultReference(' {vault://env/x}'), false);
  t.equal(looksLikeVaultReference('{vault://env/x'), false);
  t.equal(looksLikeVaultReference('plain'), false);
});

// The azure backend through the real command (`securenode vault get`), as an
// operator checks a setup, against a stand-in for Key Vault and Entra's token
// endpoint whose CA the process trusts through NODE_EXTRA_CA_CERTS.
import { writeFile } from 'node:fs/promises';
import t from 'tap';
import { runCli } from '../helpers/cli.js';
import { startFakeKeyVault } from '../helpers/fake-azure.js';
import { remember } from '../helpers/secrets-ledger.js';
import { silentPort } from '../helpers/silent-server.js';

const vault = await startFakeKeyVault({
  tenant: 'tenant-1', clientId: 'client-1', clientSecret: 'entra-client-secret-1',
  secrets: { 'kong-db': [{ version: 'a1', value: '{"pg_password":"azure-old-pass-1"}' }, { version: 'b2', value: '{"pg_password":"azure-new-pass-2"}' }] },
});
t.teardown(vault.close);
remember({ kind: 'secret', value: 'entra-client-secret-1', source: 'the fake Entra client secret' });
// One t.testdir() for the file: a second call would empty it.
const dir = t.testdir();
const ca = `${dir}/ca.pem`;
await writeFile(ca, vault.caPem);
const env = { NODE_EXTRA_CA_CERTS: ca, AZURE_TENANT_ID: 'tenant-1', AZURE_CLIENT_ID: 'client-1', AZURE_CLIENT_SECRET: 'entra-client-secret-1', AZURE_AUTHORITY_HOST: vault.base };
const get = (reference: string, extra: Record<string, string> = {}, settings: string[] = ['-E', `vault.azure.vault_uri=${vault.base}`]) =>
  runCli(['vault', 'get', reference, '--home', `${dir}/none`, ...settings], { env: { ...env, ...extra } });
const refused = (reference: string, reason: string) => ({ exitCode: 78, stdout: '', stderr: `ERROR: failed to dereference '${reference}': ${reason}\n` });

t.test('a secret, a field of it, a version, after the Bearer challenge and a client-credentials token', async (t) => {
  t.same(await get('{vault://azure/kong-db/pg_password}'), { exitCode: 0, stdout: 'azure-new-pass-2\n', stderr: '' });
  t.match(vault.seen, [/^GET \/secrets\/kong-db\//, /^GET \/tenant-1\/v2\.0\/\.well-known\/openid-configuration$/, /^POST \/tenant-1\/oauth2\/v2\.0\/token/, /^GET \/secrets\/kong-db\//], 'challenged, a token from the tenant the challenge named, then the secret');
  t.same(await get('{vault://azure/kong-db/pg_password?version=a1}'), { exitCode: 0, stdout: 'azure-old-pass-1\n', stderr: '' });
  t.same(await get('{vault://azure/kong-db}'), { exitCode: 0, stdout: '{"pg_password":"azure-new-pass-2"}\n', stderr: '' });
  t.same(await get('{vault://azure/kong-db/pg_password}', { AZURE_VAULT_URI: vault.base }, []), { exitCode: 0, stdout: 'azure-new-pass-2\n', stderr: '' }, 'AZURE_VAULT_URI');
  t.same(await get('{vault://azure/kong-db/pg_password}', { AZURE_CLIENT_SECRET: '', MY_CLIENT_SECRET: 'entra-client-secret-1', MY_TENANT_ID: 'tenant-1', MY_CLIENT_ID: 'client-1' }, ['-E', `vault.azure.vault_uri=${vault.base}`, '-E', 'vault.azure.credentials_prefix=MY']), { exitCode: 0, stdout: 'azure-new-pass-2\n', stderr: '' }, "Kong's credentials_prefix");
});

t.test('not found, a refused secret, no vault, down', async (t) => {
  t.same(await get('{vault://azure/absent/pg_password}'), refused('{vault://azure/absent/pg_password}', 'no value found (not found)'));
  const wrong = await get('{vault://azure/kong-db/pg_password}', { AZURE_CLIENT_SECRET: 'wrong-client-secret-9' });
  t.same(wrong, refused('{vault://azure/kong-db/pg_password}', 'Azure refused the credentials (AuthenticationRequiredError)'), 'the token endpoint refused the client secret');
  t.notMatch(wrong.stderr, /wrong-client-secret-9|entra-client-secret-1/, 'no secret in the message');
  t.same(await get('{vault://azure/kong-db}', {}, []), refused('{vault://azure/kong-db}', 'no Key Vault: set vault.azure.vault_uri or AZURE_VAULT_URI'));
  const down = await get('{vault://azure/kong-db}', {}, ['-E', 'vault.azure.vault_uri=https://127.0.0.1:1']);
  t.equal(down.exitCode, 78);
  t.match(down.stderr, /^ERROR: failed to dereference '\{vault:\/\/azure\/kong-db\}': could not reach Key Vault at https:\/\/127\.0\.0\.1:1/);
});

t.test('a Key Vault that never answers fails within vault.timeout', async (t) => {
  const url = `https://127.0.0.1:${await silentPort(t)}`;
  const started = Date.now();
  t.same(await get('{vault://azure/kong-db}', {}, ['-E', `vault.azure.vault_uri=${url}`, '-E', 'vault.timeout=500ms']), refused('{vault://azure/kong-db}', `Key Vault at ${url} did not answer in time`));
  t.ok(Date.now() - started < 10_000, 'in about the timeout');
});

import { createServer } from 'node:net';
import t from 'tap';
import { referencesTtl, resolveVaultReferences } from '../../../src/settings/vault/resolve.js';
import { settingsOf } from '../../helpers/settings.js';
import { silentPort } from '../../helpers/silent-server.js';
import { startFakeVault } from '../../helpers/fake-vault.js';

const resolveOne = async (value: unknown, extra: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) =>
  (await resolveVaultReferences(settingsOf({ 'security.store.postgres.password': value, ...extra }), { env })).get('security.store.postgres.password');

t.test('env: prefix, upper case, dashes, versions, keys', async (t) => {
  const env = { PG_PASSWORD: 'from-env', APP_PG_PASSWORD: 'prefixed', SSL_PG_PASSWORD: 'query-prefixed', PG_PASSWORD_PREVIOUS: 'older', CREDS: '{"username":"u1","password":"p1"}' };
  t.equal(await resolveOne('{vault://env/pg-password}', {}, env), 'from-env');
  t.equal(await resolveOne('{vault://env/pg-password}', { 'vault.env.prefix': 'app_' }, env), 'prefixed');
  t.equal(await resolveOne('{vault://env/pg-password?prefix=ssl_}', { 'vault.env.prefix': 'app_' }, env), 'query-prefixed');
  t.equal(await resolveOne('{vault://env/pg-password#2}', {}, env), 'older');
  t.equal(await resolveOne('{vault://env/creds/password}', {}, env), 'p1');
  t.equal(await resolveOne('plain value', {}, env), 'plain value', 'a plain string is left alone');
});

t.test('errors name the reference and the setting, never a value', async (t) => {
  const failure = (ref: string, reason: string, setting = 'security.store.postgres.password') => ({ code: 'ERR_VAULT', message: `failed to dereference '${ref}': ${reason} for setting '${setting}'` });
  await t.rejects(resolveOne('{vault://env/missing}'), failure('{vault://env/missing}', 'no value found (environment variable MISSING is not set)'));
  await t.rejects(resolveOne('{vault://env/creds/nope}', {}, { CREDS: '{"password":"secret-p1"}' }), failure('{vault://env/creds/nope}', 'subfield nope not found in JSON secret'));
  await t.rejects(resolveOne('{vault://env/plain/field}', {}, { PLAIN: 'not json' }), failure('{vault://env/plain/field}', 'subfield field not found in JSON secret'));
  await t.rejects(resolveOne('{vault://conjur/x}'), failure('{vault://conjur/x}', 'could not find vault (conjur); the backends are env, file, hcv, aws, gcp, azure'));
  await t.rejects(resolveOne('{vault://env/}'), failure('{vault://env/}', 'reference url has empty path'));
  await t.rejects(resolveOne('{vault://file/x}'), failure('{vault://file/x}', 'vault.file.path is not set: set it to the directory that holds the secret files'));
  const listFailure = resolveVaultReferences(settingsOf({ 'discovery.seed_hosts': ['a:1', '{vault://env/nope}'] }), { env: {} });
  await t.rejects(listFailure, failure('{vault://env/nope}', 'no value found (environment variable NOPE is not set)', 'discovery.seed_hosts[1]'));
});

t.test('lists and vault settings that are references themselves', async (t) => {
  const settings = await resolveVaultReferences(
    settingsOf({ 'discovery.seed_hosts': ['a:9300', '{vault://env/seed}'], 'vault.env.prefix': '{vault://env/the-prefix}', 'cluster.name': '{vault://env/name}' }),
    { env: { X_SEED: 'b:9300', THE_PREFIX: 'x_', X_NAME: 'prod' } },
  );
  t.same(settings.list('discovery.seed_hosts'), ['a:9300', 'b:9300']);
  t.equal(settings.string('cluster.name'), 'prod', 'vault.* settings are resolved first and then used');
  t.equal(settings.origin('cluster.name'), 'file');
});

t.test('file: a file under vault.file.path, one trailing newline dropped, never outside it', async (t) => {
  const dir = t.testdir({ secrets: { 'pg-password': 's3cret\n', 'json-creds': '{"user":"u"}', 'two-lines': 'a\n\n' }, outside: 'nope' });
  const base = { 'vault.file.path': `${dir}/secrets` };
  t.equal(await resolveOne('{vault://file/pg-password}', base), 's3cret');
  t.equal(await resolveOne('{vault://file/json-creds/user}', base), 'u');
  t.equal(await resolveOne('{vault://file/two-lines}', base), 'a\n');
  await t.rejects(resolveOne('{vault://file/..%2Foutside}', base), { message: /the resource must stay inside vault\.file\.path/ });
  await t.rejects(resolveOne('{vault://file/absent}', base), { message: `failed to dereference '{vault://file/absent}': no value found (cannot read ${dir}/secrets/absent: ENOENT) for setting 'security.store.postgres.password'` });
});

t.test('hcv: KV v1 and v2, token, namespace, mount, versions and errors', async (t) => {
  const vault = await startFakeVault({
    token: 'root-token',
    namespace: 'team-a',
    v1: { 'secret/db': { password: 'v1-pass' }, 'kv1/app': { key: 'k' } },
    v2: { 'secret/db': [{ password: 'old-pass' }, { password: 'new-pass' }] },
  });
  t.teardown(vault.close);
  const hcv = { 'vault.hcv.address': vault.address, 'vault.hcv.namespace': 'team-a' };
  t.equal(await resolveOne('{vault://hcv/db/password}', hcv, { VAULT_TOKEN: 'root-token' }), 'v1-pass');
  t.equal(vault.seen.at(-1)?.url, '/v1/secret/db');
  t.equal(vault.seen.at(-1)?.headers['x-vault-namespace'], 'team-a');
  t.equal(await resolveOne('{vault://hcv/db/password}', { ...hcv, 'vault.hcv.kv_version': 2, 'vault.hcv.token': 'root-token' }), 'new-pass');
  t.equal(vault.seen.at(-1)?.url, '/v1/secret/data/db');
  t.equal(await resolveOne('{vault://hcv/db/password?kv_version=2#1}', hcv, { VAULT_TOKEN: 'root-token' }), 'old-pass');
  t.equal(vault.seen.at(-1)?.url, '/v1/secret/data/db?version=1');
  t.equal(await resolveOne('{vault://hcv/app/key?mount=kv1}', hcv, { VAULT_TOKEN: 'root-token' }), 'k');
  t.equal(await resolveOne('{vault://hcv/db/}', hcv, { VAULT_TOKEN: 'root-token' }), '{"password":"v1-pass"}', 'no key: the whole secret as JSON');

  const reason = async (ref: string, extra: Record<string, unknown>, env: NodeJS.ProcessEnv) =>
    ((await resolveOne(ref, extra, env).catch((error: Error) => error.message)) as string).replace(/^failed to dereference '[^']*': (.*) for setting '.*'$/, '$1');
  t.equal(await reason('{vault://hcv/db/password}', hcv, { VAULT_TOKEN: 'wrong' }), 'Vault refused the token (403 permission denied)');
  t.equal(await reason('{vault://hcv/none/password}', hcv, { VAULT_TOKEN: 'root-token' }), 'no value found (not found)');
  t.equal(await reason('{vault://hcv/db/password}', hcv, {}), 'no Vault token: set VAULT_TOKEN or vault.hcv.token');
  t.equal(await reason('{vault://hcv/db/password}', {}, { VAULT_TOKEN: 'x' }), 'vault.hcv.address is not set');
  t.equal(await reason('{vault://hcv/db/password?kv_version=3}', hcv, { VAULT_TOKEN: 'x' }), 'kv_version must be 1 or 2, not 3');
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as { port: number };
  await new Promise((resolve) => closed.close(resolve));
  t.equal(await reason('{vault://hcv/db/password}', { 'vault.hcv.address': `http://127.0.0.1:${port}` }, { VAULT_TOKEN: 'x' }), `could not reach Vault at http://127.0.0.1:${port} (ECONNREFUSED)`);
});

t.test('referencesTtl: the shortest ttl among the references, from ?ttl= or vault.<backend>.ttl', async (t) => {
  const keys = ['security.store.postgres.user', 'security.store.postgres.password'];
  t.equal(referencesTtl(settingsOf({ 'security.store.postgres.password': '{vault://env/pw}' }), keys), undefined, 'no ttl: read once, as Kong by default');
  t.equal(referencesTtl(settingsOf({ 'security.store.postgres.password': 'plain' }), keys), undefined);
  t.equal(referencesTtl(settingsOf({ 'security.store.postgres.password': '{vault://env/pw?ttl=30s}' }), keys), 30_000, 'env has no ttl setting, but ?ttl= counts');
  t.equal(referencesTtl(settingsOf({ 'security.store.postgres.password': '{vault://aws/db/pw}', 'vault.aws.ttl': '5m' }), keys), 300_000);
  t.equal(referencesTtl(settingsOf({ 'security.store.postgres.user': '{vault://aws/db/user?ttl=2m}', 'security.store.postgres.password': '{vault://aws/db/pw}', 'vault.aws.ttl': '5m' }), keys), 120_000, 'the shortest');
  t.equal(referencesTtl(settingsOf({ 'security.store.postgres.password': '{vault://file/pw?ttl=0s}' }), keys), undefined, 'zero: no rotation');
});

t.test('hcv auth methods: kubernetes and approle logins (response wrapping too), and their refusals', async (t) => {
  const dir = t.testdir({ 'sa-token': 'eyJhbGciOi.service-account.jwt\n', 'secret-id': 'approle-secret-id-1\n', 'wrong-jwt': 'not-the-jwt' });
  const vault = await startFakeVault({
    token: 'login-issued-token',
    v1: { 'secret/db': { password: 'v1-pass' } },
    v2: {},
    kubernetes: { path: 'k8s', role: 'securenode', jwt: 'eyJhbGciOi.service-account.jwt' },
    approle: { path: 'approle', roleId: 'role-id-1', secretId: 'approle-secret-id-1', wrappingToken: 'hvs.wrapping-token-1' },
  });
  t.teardown(vault.close);
  const base = { 'vault.hcv.address': vault.address };
  const kube = { ...base, 'vault.hcv.auth_method': 'kubernetes', 'vault.hcv.kube_role': 'securenode', 'vault.hcv.kube_auth_path': 'k8s', 'vault.hcv.kube_api_token_file': `${dir}/sa-token` };
  t.equal(await resolveOne('{vault://hcv/db/password}', kube), 'v1-pass', 'kubernetes: the pod token logs in, the issued token reads');
  t.same(JSON.parse(vault.seen.at(-2)!.body), { role: 'securenode', jwt: 'eyJhbGciOi.service-account.jwt' });
  t.equal(vault.seen.at(-1)!.headers['x-vault-token'], 'login-issued-token');
  const approle = { ...base, 'vault.hcv.auth_method': 'approle', 'vault.hcv.approle_role_id': 'role-id-1' };
  t.equal(await resolveOne('{vault://hcv/db/password}', { ...approle, 'vault.hcv.approle_secret_id': 'approle-secret-id-1' }), 'v1-pass', 'approle with the secret id');
  t.equal(await resolveOne('{vault://hcv/db/password}', { ...approle, 'vault.hcv.approle_secret_id_file': `${dir}/secret-id` }), 'v1-pass', 'approle with the secret id from a file');
  const wrapped = { ...approle, 'vault.hcv.approle_secret_id': 'hvs.wrapping-token-1', 'vault.hcv.approle_response_wrapping': true };
  t.equal(await resolveOne('{vault://hcv/db/password}', wrapped), 'v1-pass', 'a wrapped secret id is unwrapped, then logs in');

  const reason = async (extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
    ((await resolveOne('{vault://hcv/db/password}', extra, env).catch((error: Error) => error.message)) as string).replace(/^failed to dereference '[^']*': (.*) for setting '.*'$/, '$1');
  t.equal(await reason(wrapped), 'Vault refused the wrapped secret id (400 permission denied)', 'a wrapping token works once: a second unwrap is refused (someone else unwrapped it)');
  t.equal(await reason({ ...kube, 'vault.hcv.kube_api_token_file': `${dir}/wrong-jwt` }), 'Vault refused the kubernetes login (400 permission denied)');
  t.equal(await reason({ ...kube, 'vault.hcv.kube_api_token_file': `${dir}/absent` }), `cannot read the Kubernetes service account token ${dir}/absent (ENOENT)`);
  t.equal(await reason({ ...base, 'vault.hcv.auth_method': 'kubernetes' }), 'auth_method kubernetes needs vault.hcv.kube_role');
  t.equal(await reason({ ...approle, 'vault.hcv.approle_secret_id': 'wrong-secret-id' }), 'Vault refused the approle login (400 permission denied)');
  t.equal(await reason(approle), 'auth_method approle needs vault.hcv.approle_secret_id or approle_secret_id_file');
  t.equal(await reason({ ...base, 'vault.hcv.approle_role_id': 'x' }, {}), 'no Vault token: set VAULT_TOKEN or vault.hcv.token', 'the default method is token');
  t.equal(((await resolveOne('{vault://hcv/absent/password}', kube).catch((error: Error) => error.message)) as string), "failed to dereference '{vault://hcv/absent/password}': no value found (not found) for setting 'security.store.postgres.password'", 'kubernetes: logged in, but no such secret');
  t.equal(((await resolveOne('{vault://hcv/absent/password}', { ...approle, 'vault.hcv.approle_secret_id': 'approle-secret-id-1' }).catch((error: Error) => error.message)) as string), "failed to dereference '{vault://hcv/absent/password}': no value found (not found) for setting 'security.store.postgres.password'", 'approle: logged in, but no such secret');
  const hung = `http://127.0.0.1:${await silentPort(t)}`;
  for (const method of [{ ...kube, 'vault.hcv.address': hung }, { ...approle, 'vault.hcv.address': hung, 'vault.hcv.approle_secret_id': 'approle-secret-id-1' }]) {
    t.equal(await reason({ ...method, 'vault.timeout': '300ms' }), `Vault at ${hung} did not answer in time`, `${method['vault.hcv.auth_method']}: a login that never answers fails within vault.timeout`);
  }
  for (const message of await Promise.all([reason({ ...approle, 'vault.hcv.approle_secret_id': 'wrong-secret-id' }), reason({ ...kube, 'vault.hcv.kube_api_token_file': `${dir}/wrong-jwt` })])) {
    t.notMatch(message, /wrong-secret-id|not-the-jwt|login-issued-token/, 'no secret in a refusal');
  }
});

t.test('hcv: a Vault that never answers fails within vault.timeout', async (t) => {
  const address = `http://127.0.0.1:${await silentPort(t)}`;
  await t.rejects(resolveOne('{vault://hcv/db/password}', { 'vault.hcv.address': address, 'vault.timeout': '300ms' }, { VAULT_TOKEN: 'x' }), {
    message: `failed to dereference '{vault://hcv/db/password}': Vault at ${address} did not answer in time for setting 'security.store.postgres.password'`,
  });
});

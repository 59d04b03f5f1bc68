import { createServer } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { resolveVaultReferences } from '../../../src/settings/vault/resolve.js';
import { startMoto } from '../../helpers/moto.js';
import { settingsOf } from '../../helpers/settings.js';
import { silentPort } from '../../helpers/silent-server.js';

// The SDK's credential chain reads this process's environment. Instance
// metadata is off: tests reach only loopback addresses.
const keep = { ...process.env };
const setEnv = (env: Record<string, string | undefined>): void => {
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_REGION']) delete process.env[name];
  Object.assign(process.env, { AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' }, env);
};
t.teardown(() => {
  process.env = keep;
});

setEnv({});
const moto = await startMoto(t);
setEnv(moto.env);
const aws = { 'vault.aws.region': moto.region, 'vault.aws.endpoint_url': moto.endpoint };
const resolveOne = async (value: string, extra: Record<string, unknown> = aws) =>
  (await resolveVaultReferences(settingsOf({ 'security.store.postgres.password': value, ...extra }), { env: process.env })).get('security.store.postgres.password');
const failure = (ref: string, reason: string) => ({ code: 'ERR_VAULT', message: `failed to dereference '${ref}': ${reason} for setting 'security.store.postgres.password'` });

// The guide's secret (seed 002): one JSON secret with the database user and password.
await moto.createSecret('kong-gateway-database', JSON.stringify({ pg_user: 'kong', pg_password: 'first-password-1' }));

t.test('a secret, a field of it, and its versions', async (t) => {
  t.equal(await resolveOne('{vault://aws/kong-gateway-database}'), '{"pg_user":"kong","pg_password":"first-password-1"}');
  t.equal(await resolveOne('{vault://aws/kong-gateway-database/pg_user}'), 'kong');
  t.equal(await resolveOne('{vault://aws/kong-gateway-database/pg_password#1}'), 'first-password-1', '#1 is AWSCURRENT');
  await moto.createSecret('rotating', JSON.stringify({ password: 'old-password-1' }));
  await moto.rotateSecret('rotating', JSON.stringify({ password: 'new-password-2' }));
  t.equal(await resolveOne('{vault://aws/rotating/password}'), 'new-password-2');
  t.equal(await resolveOne('{vault://aws/rotating/password#2}'), 'old-password-1', '#2 is AWSPREVIOUS');
  await t.rejects(resolveOne('{vault://aws/rotating/password#3}'), failure('{vault://aws/rotating/password#3}', 'invalid version for aws secret manager (1: AWSCURRENT, 2: AWSPREVIOUS)'));
  t.equal(await resolveOne(`{vault://aws/kong-gateway-database/pg_user?region=${moto.region}&endpoint_url=${encodeURIComponent(moto.endpoint)}}`, {}), 'kong', 'every setting is also a ?option');
});

t.test('not found, no region, no field', async (t) => {
  await t.rejects(resolveOne('{vault://aws/absent/pg_user}'), failure('{vault://aws/absent/pg_user}', 'no value found (not found)'));
  await t.rejects(resolveOne('{vault://aws/kong-gateway-database/nope}'), failure('{vault://aws/kong-gateway-database/nope}', 'subfield nope not found in JSON secret'));
  await t.rejects(resolveOne('{vault://aws/kong-gateway-database}', { 'vault.aws.endpoint_url': moto.endpoint }), failure('{vault://aws/kong-gateway-database}', 'no AWS region: set vault.aws.region or AWS_REGION'));
});

t.test('refused and missing credentials', async (t) => {
  t.teardown(() => setEnv(moto.env));
  setEnv({ ...moto.env, AWS_SECRET_ACCESS_KEY: 'not-the-secret-key-0123456789' });
  const refused = resolveOne('{vault://aws/kong-gateway-database/pg_password}');
  await t.rejects(refused, failure('{vault://aws/kong-gateway-database/pg_password}', 'AWS refused the credentials (HTTP 403)'));
  setEnv({ ...moto.env, AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNKEY000000' });
  await t.rejects(resolveOne('{vault://aws/kong-gateway-database/pg_password}'), { message: /AWS refused the credentials/ });
  setEnv({});
  await t.rejects(
    resolveOne('{vault://aws/kong-gateway-database/pg_password}'),
    failure('{vault://aws/kong-gateway-database/pg_password}', 'no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity token (EKS) or an instance role'),
  );
});

t.test('an endpoint that is down, or never answers, fails within vault.timeout', async (t) => {
  const silentUrl = `http://127.0.0.1:${await silentPort(t)}`;
  const started = Date.now();
  await t.rejects(
    resolveOne('{vault://aws/kong-gateway-database}', { 'vault.aws.region': moto.region, 'vault.aws.endpoint_url': silentUrl, 'vault.timeout': '300ms' }),
    failure('{vault://aws/kong-gateway-database}', `AWS Secrets Manager at ${silentUrl} did not answer in time`),
  );
  t.ok(Date.now() - started < 5_000, 'two attempts of 300 ms, not the SDK\'s minutes');
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedUrl = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
  await new Promise((resolve) => closed.close(resolve));
  await t.rejects(resolveOne('{vault://aws/x}', { 'vault.aws.region': moto.region, 'vault.aws.endpoint_url': closedUrl }), failure('{vault://aws/x}', `could not reach AWS Secrets Manager at ${closedUrl} (ECONNREFUSED)`));
});

t.test('assume_role_arn: the secret is read with the role\'s credentials from STS', async (t) => {
  const role = await moto.createRole('securenode-reader');
  const withRole = { ...aws, 'vault.aws.assume_role_arn': role, 'vault.aws.sts_endpoint_url': moto.endpoint, 'vault.aws.role_session_name': 'node-1' };
  t.equal(await resolveOne('{vault://aws/kong-gateway-database/pg_user}', withRole), 'kong');
  t.equal(await resolveOne(`{vault://aws/kong-gateway-database/pg_user?assume_role_arn=${encodeURIComponent(role)}&sts_endpoint_url=${encodeURIComponent(moto.endpoint)}}`), 'kong', 'as ?options too');
  // The role's session is signed with the user's key: a wrong key is refused at STS, and nothing is read.
  t.teardown(() => setEnv(moto.env));
  setEnv({ ...moto.env, AWS_SECRET_ACCESS_KEY: 'not-the-secret-key-0123456789' });
  await t.rejects(resolveOne('{vault://aws/kong-gateway-database/pg_user}', withRole), { message: /AWS refused the credentials/ });
});

t.test('attacker: no message carries a secret value or a secret key, whatever they are', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.string({ minLength: 12, maxLength: 40 }).filter((value) => value.trim().length >= 12), fc.stringMatching(/^[A-Za-z0-9/+]{40}$/), async (value, wrongKey) => {
      const name = `s-${Math.random().toString(36).slice(2)}`;
      await moto.createSecret(name, JSON.stringify({ password: value }));
      const messages: string[] = [];
      for (const reference of [`{vault://aws/${name}/nope}`, `{vault://aws/${name}/password#3}`]) {
        await resolveOne(reference).then(() => messages.push('resolved'), (error: Error) => messages.push(error.message));
      }
      setEnv({ ...moto.env, AWS_SECRET_ACCESS_KEY: wrongKey });
      await resolveOne(`{vault://aws/${name}/password}`).then(() => messages.push('resolved'), (error: Error) => messages.push(error.message));
      setEnv(moto.env);
      return messages.every((message) => message.startsWith('failed to dereference') && !message.includes(value) && !message.includes(wrongKey) && !message.includes(moto.credentials.secretAccessKey));
    }),
    { numRuns: 15 },
  );
  t.pass('15 generated secrets and keys: every failure named neither');
});

import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { resolveVaultReferences } from '../../../src/settings/vault/resolve.js';
import { startFakeSecretManager } from '../../helpers/fake-gcp.js';
import { settingsOf } from '../../helpers/settings.js';
import { silentPort } from '../../helpers/silent-server.js';

const sm = await startFakeSecretManager({ 'securenode-test/kong-db': ['{"pg_user":"kong","pg_password":"gcp-old-pass-1"}', '{"pg_user":"kong","pg_password":"gcp-new-pass-2"}'] });
t.teardown(sm.close);
const env = { GCP_SERVICE_ACCOUNT: sm.serviceAccount };
const gcp = { 'vault.gcp.project_id': 'securenode-test', 'vault.gcp.endpoint_url': sm.endpoint };
const resolveOne = async (value: string, extra: Record<string, unknown> = gcp, environment: NodeJS.ProcessEnv = env) =>
  (await resolveVaultReferences(settingsOf({ 'security.store.postgres.password': value, ...extra }), { env: environment })).get('security.store.postgres.password');
const reason = async (value: string, extra: Record<string, unknown> = gcp, environment: NodeJS.ProcessEnv = env) =>
  ((await resolveOne(value, extra, environment).catch((error: Error) => error.message)) as string).replace(/^failed to dereference '[^']*': (.*) for setting '.*'$/, '$1');

t.test('a secret, a field of it, latest or a version number, the project as an option', async (t) => {
  t.equal(await resolveOne('{vault://gcp/kong-db/pg_password}'), 'gcp-new-pass-2', 'latest by default');
  t.equal(sm.seen.at(-1), 'GET /v1/projects/securenode-test/secrets/kong-db/versions/latest:access?$alt=json%3Benum-encoding=int');
  t.equal(await resolveOne('{vault://gcp/kong-db/pg_password#1}'), 'gcp-old-pass-1');
  t.equal(await resolveOne('{vault://gcp/kong-db}'), '{"pg_user":"kong","pg_password":"gcp-new-pass-2"}');
  t.equal(await resolveOne(`{vault://gcp/kong-db/pg_user?project_id=securenode-test&endpoint_url=${encodeURIComponent(sm.endpoint)}}`, {}), 'kong');
});

t.test('not found, no project, refused and missing credentials, down', async (t) => {
  t.equal(await reason('{vault://gcp/absent/pg_password}'), 'no value found (not found)');
  t.equal(await reason('{vault://gcp/kong-db/pg_password#9}'), 'no value found (not found)');
  t.equal(await reason('{vault://gcp/kong-db}', { 'vault.gcp.endpoint_url': sm.endpoint }), 'no Google Cloud project: set vault.gcp.project_id or ?project_id=');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stranger = JSON.stringify({ ...JSON.parse(sm.serviceAccount), private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
  t.equal(await reason('{vault://gcp/kong-db/pg_password}', gcp, { GCP_SERVICE_ACCOUNT: stranger }), 'Google Cloud refused the credentials (UNAUTHENTICATED)', 'a key Google does not know');
  t.equal(await reason('{vault://gcp/kong-db/pg_password}', gcp, { GCP_SERVICE_ACCOUNT: '{not json' }), 'GCP_SERVICE_ACCOUNT is not a service account key in JSON');
  const message = await reason('{vault://gcp/kong-db/pg_password}', gcp, { GCP_SERVICE_ACCOUNT: stranger });
  t.notMatch(message, /PRIVATE KEY|gcp-new-pass/, 'no key and no value in the message');
  t.equal(await reason('{vault://gcp/kong-db}', { ...gcp, 'vault.gcp.endpoint_url': 'http://127.0.0.1:1' }), 'could not reach Secret Manager at http://127.0.0.1:1 (ECONNREFUSED)');
});

t.test('an endpoint that never answers fails within vault.timeout', async (t) => {
  const url = `http://127.0.0.1:${await silentPort(t)}`;
  const started = Date.now();
  t.equal(await reason('{vault://gcp/kong-db}', { ...gcp, 'vault.gcp.endpoint_url': url, 'vault.timeout': '300ms' }), `Secret Manager at ${url} did not answer in time`);
  t.ok(Date.now() - started < 5_000, 'in about the timeout, not the SDK\'s default minute');
});

// Admin tokens (Kong's RBAC user tokens, many per user) tried as an attacker
// would: a doubled or missing header, a token as an API key and the reverse,
// a token for someone who holds more, a revoked, expired or disabled owner's
// token, generated garbage, and the header renamed to Kong's.
import { execa } from 'execa';
import fc from 'fast-check';
import t from 'tap';
import { encodeAdminToken } from '../../src/security/api-keys.js';
import { inProcessNode } from '../helpers/in-process-node.js';

const header = 'Securenode-Admin-Token';

t.test('made, used, listed, revoked; what stops a token at once', async (t) => {
  const { call, admin, store, auditLines } = await inProcessNode(t, 'on');
  const as = (token: string, name = header) => ({ [name]: token });
  const whoami = (token: string, name = header) => call('GET', '/_security/_authenticate', undefined, undefined, '127.0.0.1', as(token, name));
  await call('PUT', '/_security/user/ops', admin, { password: 'ops-password-1', roles: ['admin'] });

  // Oneself, with one's password: no permission needed, as for one's own password.
  const made = await call('POST', '/_security/user/ops/_token', 'ops:ops-password-1', { name: 'ci' });
  t.equal(made.status, 200);
  const token = made.body as { id: string; name: string; token: string; header: string };
  t.match(token, { name: 'ci', header: 'Securenode-Admin-Token', token: /^snadm_[A-Za-z0-9_-]{20}\.[A-Za-z0-9_-]{43}$/ });
  t.match((await whoami(token.token)).body, { username: 'ops', roles: ['admin'] }, 'the token acts as its owner');
  const second = (await call('POST', '/_security/user/ops/_token', 'ops:ops-password-1')).body as { id: string; token: string };
  t.equal((await whoami(second.token)).status, 200, 'many per user; a bodiless request is fine');
  const listed = (await call('GET', '/_security/user/ops/_token', 'ops:ops-password-1')).body as { tokens: Record<string, unknown>[] };
  t.same(listed.tokens.map((entry) => Object.keys(entry).sort()), [['creation', 'expiration', 'id', 'invalidated', 'name'], ['creation', 'expiration', 'id', 'invalidated', 'name']], 'listed without any secret');
  t.notMatch(JSON.stringify(store.snapshot()), token.token.split('.')[1]!, 'the store holds a keyed hash, not the secret');
  t.same((await call('GET', '/_security/api_key', admin)).body, { api_keys: [] }, 'not listed as API keys');

  // A token may not mint tokens (that needs the password), nor is it an API key, nor an API key a token.
  t.equal((await call('POST', '/_security/user/ops/_token', undefined, {}, '127.0.0.1', as(token.token))).status, 403, 'a token does not mint more tokens');
  t.equal((await call('GET', '/_security/_authenticate', undefined, undefined, '127.0.0.1', { authorization: `ApiKey ${Buffer.from(`${token.id}:${token.token.split('.')[1]}`).toString('base64')}` })).status, 401, 'a token sent as an API key');
  const apiKey = (await call('POST', '/_security/api_key', 'ops:ops-password-1', { name: 'k' })).body as { id: string; api_key: string };
  t.equal((await whoami(encodeAdminToken(apiKey.id, apiKey.api_key))).status, 401, 'an API key sent as a token');
  t.equal(((await call("DELETE", "/_security/api_key", admin, { ids: [token.id] })).body as { invalidated_api_keys: string[] }).invalidated_api_keys.length, 0, 'the API key route does not revoke tokens');

  // Disabled: stopped at once; enabled: back. Demoted: the token has the owner's roles now.
  await call('PUT', '/_security/user/ops/_disable', admin);
  t.equal((await whoami(token.token)).status, 401, 'a disabled owner\'s token stops at once');
  await call('PUT', '/_security/user/ops/_enable', admin);
  await call('PUT', '/_security/user/ops', admin, { roles: ['read-only'] });
  t.match((await whoami(token.token)).body, { roles: ['read-only'] });
  t.equal((await call('PUT', '/_security/role/r', undefined, { endpoints: [] }, '127.0.0.1', as(token.token))).status, 403, 'and only what they allow');

  // Revoked: stopped at once; revoking again says so; someone else's id is 404.
  t.same((await call('DELETE', `/_security/user/ops/_token/${token.id}`, 'ops:ops-password-1')).body, { found: true, invalidated: true });
  t.equal((await whoami(token.token)).status, 401, 'revoked');
  t.same((await call('DELETE', `/_security/user/ops/_token/${token.id}`, admin)).body, { found: true, invalidated: false });
  t.equal((await call('DELETE', '/_security/user/elastic/_token/' + second.id, admin)).status, 404, 'a token is revoked under its own user only');
  t.equal((await whoami(second.token)).status, 200, 'the other token still works');

  // Deleted owner: every token dies, and a later user of that name inherits none.
  await call('DELETE', '/_security/user/ops', admin);
  t.equal((await whoami(second.token)).status, 401);
  await call('PUT', '/_security/user/ops', admin, { password: 'ops-password-2', roles: ['superuser'] });
  t.equal((await whoami(second.token)).status, 401, 'a new user of the same name does not inherit it');

  const events = (await auditLines()).map((line) => line.event);
  t.ok(events.includes('admin_token_created') && events.includes('admin_token_revoked'), 'made and revoked tokens are audited');
  t.notMatch(JSON.stringify(await auditLines()), token.token.split('.')[1]!, 'the audit log has ids, never a secret');
});

t.test('escalation: nobody mints a token for someone who holds more, or without the permission', async (t) => {
  const { call, admin } = await inProcessNode(t, 'on');
  await call('PUT', '/_security/user/reader', admin, { password: 'reader-password-1', roles: ['read-only'] });
  await call('PUT', '/_security/user/ops', admin, { password: 'ops-password-1', roles: ['admin'] });
  await call('PUT', '/_security/role/token-maker', admin, { endpoints: [{ endpoint: '/_security/user/*/_token', actions: ['create', 'read'] }, { endpoint: '*', actions: ['read'] }], entities: [{ entity_id: '*', entity_type: 'wildcard', actions: ['read'] }] });
  await call('PUT', '/_security/user/maker', admin, { password: 'maker-password-1', roles: ['token-maker'] });
  t.equal((await call('POST', '/_security/user/elastic/_token', 'reader:reader-password-1')).status, 403, 'read-only: no permission');
  t.equal((await call('POST', '/_security/user/elastic/_token', 'ops:ops-password-1')).status, 403, 'admin may not manage users');
  const maker = await call('POST', '/_security/user/elastic/_token', 'maker:maker-password-1');
  t.equal(maker.status, 403, 'the permission to create is not enough for a user who holds more');
  t.match(maker.body, { error: /maker, you cannot manage user \[elastic\]: it holds permissions you do not hold yourself/ });
  const less = await call('POST', '/_security/user/reader/_token', 'maker:maker-password-1');
  t.equal(less.status, 200, `but for one who holds less, it is: ${JSON.stringify(less.body)}`);
  t.equal((await call('POST', '/_security/user/ghost/_token', admin)).status, 404);
  t.equal((await call('POST', '/_security/user/elastic/_token', admin, { extra: 1 })).status, 400, 'an unknown field');
  t.equal((await call('POST', '/_security/user/elastic/_token', admin, { expiration: 'soon' })).status, 400);
});

t.test('the header: doubled or missing is anonymous; renamed to Kong\'s; garbage never opens anything', async (t) => {
  const { call, admin, running, configured } = await inProcessNode(t, 'on', { overrides: ['security.rbac.token_header=Kong-Admin-Token'] });
  const token = ((await call('POST', '/_security/user/elastic/_token', admin, { expiration: '1h' })).body as { token: string; header: string });
  t.equal(token.header, 'Kong-Admin-Token', 'the answer names the header to send it in');
  const curl = (...headers: string[]) =>
    execa('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', `${configured.paths.certsDir}/http_ca.crt`, ...headers.flatMap((value) => ['-H', value]), `https://127.0.0.1:${running.http.port}/_security/_authenticate`]);
  t.equal((await curl(`Kong-Admin-Token: ${token.token}`)).stdout, '200', "Kong's header name, as Kong's clients send it");
  t.equal((await curl(`kong-admin-token: ${token.token}`)).stdout, '200', 'header names have no case');
  t.equal((await curl(`Securenode-Admin-Token: ${token.token}`)).stdout, '401', 'the default name is not read once it is renamed');
  t.equal((await curl(`Kong-Admin-Token: ${token.token}`, `Kong-Admin-Token: ${token.token}`)).stdout, '401', 'doubled: anonymous');
  // Either as sent in lower case (compared as it is) or in any other case (compared lowered): the two still count as two.
  t.equal((await curl(`kong-admin-token: ${token.token}`, `kong-admin-token: ${token.token}`)).stdout, '401', 'doubled in lower case: anonymous');
  t.equal((await curl(`kong-admin-token: ${token.token}`, `KONG-ADMIN-TOKEN: ${token.token}`)).stdout, '401', 'doubled in two cases: anonymous');
  t.equal((await curl(`Kong-Admin-Token: ${token.token}`, `Kong-Admin-Token: ${token.token}`, `Authorization: Basic ${Buffer.from('elastic:rbac-super-password-1').toString('base64')}`)).stdout, '200', 'doubled and a password: the password decides');
  t.equal((await curl()).stdout, '401', 'missing: anonymous');
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string({ maxLength: 200 }).filter((value) => !/[\r\n\0]/.test(value)),
        fc.constantFrom(token.token.slice(0, -1), `${token.token}x`, token.token.replace('snadm_', 'snadm__'), token.token.toUpperCase(), `snadm_${'A'.repeat(20)}.${'B'.repeat(43)}`),
      ),
      async (value) => {
        const answer = await call('GET', '/_security/_authenticate', undefined, undefined, '127.0.0.1', { 'kong-admin-token': value });
        return answer.status === 401;
      },
    ),
    { numRuns: 60 },
  );
  t.pass('60 generated and mutated tokens: each a 401, none a 500');
});

t.test('a header name that carries something else is refused at start', async (t) => {
  await t.rejects(inProcessNode(t, 'on', { overrides: ['security.rbac.token_header=Authorization'] }), { code: 'ERR_CONFIG_INVALID_VALUE', message: /security\.rbac\.token_header must be a header name of its own/ });
  await t.rejects(inProcessNode(t, 'on', { overrides: ['security.rbac.token_header=bad header'] }), { code: 'ERR_CONFIG_INVALID_VALUE' });
});

// The REST forms of Elasticsearch's spec for the security endpoints securenode
// implements: PUT or POST alike, comma lists, the api_key filters, a username
// in the body, bodiless requests with a JSON content type, Elasticsearch's own
// media type, and the Kibana enrollment path.
import { request } from 'node:https';
import t from 'tap';
import { inProcessNode, superPassword } from '../helpers/in-process-node.js';

t.test('every method and path the spec lists for what securenode implements', async (t) => {
  const { call, admin, running, configured } = await inProcessNode(t, 'on', { overrides: ['security.enrollment.enabled=true'] });
  /** A request with exactly these headers and body bytes. */
  const raw = (method: string, path: string, headers: Record<string, string>, body = '') =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: running.http.port, path, method, servername: 'localhost', ca: configured.tls.httpCaPem, agent: false, headers: { authorization: `Basic ${Buffer.from(`elastic:${superPassword}`).toString('base64')}`, 'content-length': String(Buffer.byteLength(body)), ...headers } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      })
        .on('error', reject)
        .end(body);
    });

  t.same((await call('POST', '/_security/user/u1', admin, { password: 'u1-password-123', roles: [] })).body, { created: true }, 'POST creates a user as PUT does');
  t.same((await call('POST', '/_security/user/u1', admin, { username: 'u1', roles: ['read-only'] })).body, { created: false }, 'the username field, when it is the path user');
  t.same((await call('PUT', '/_security/user/u1', admin, { username: 'someone-else', roles: [] })).body, { error: "invalid field 'username': it must be the user of the path [u1], or left out" });
  t.equal((await call('PUT', '/_security/user/u1/_password', admin, { password: 'u1-password-456' })).status, 200, 'PUT _password');
  t.equal((await call('GET', '/_security/_authenticate', 'u1:u1-password-456')).status, 200);
  t.equal((await call('POST', '/_security/user/u1/_disable', admin)).status, 200, 'POST _disable');
  t.equal((await call('GET', '/_security/_authenticate', 'u1:u1-password-456')).status, 401);
  t.equal((await call('POST', '/_security/user/u1/_enable', admin)).status, 200, 'POST _enable');
  t.same((await call('POST', '/_security/role/r1', admin, { endpoints: [{ endpoint: '/', actions: ['read'] }] })).body, { role: { created: true } }, 'POST creates a role');

  t.same(Object.keys((await call('GET', '/_security/user/u1,elastic,nobody', admin)).body as object).sort(), ['elastic', 'u1'], 'a comma list: the users found');
  t.same(await call('GET', '/_security/user/nobody,nothing', admin).then((answer) => [answer.status, answer.body]), [404, {}], 'none found: 404');

  const k1 = (await call('PUT', '/_security/api_key', admin, { name: 'k1' })).body as { id: string };
  t.ok(k1.id, 'PUT creates an API key as POST does');
  await call('POST', '/_security/api_key', 'u1:u1-password-456', { name: 'k2' }).then((answer) => t.equal(answer.status, 403, 'read-only makes none'));
  await call('PUT', '/_security/user/u2', admin, { password: 'u2-password-123', roles: ['admin'] });
  const k2 = (await call('POST', '/_security/api_key', 'u2:u2-password-123', { name: 'k2' })).body as { id: string };
  const ids = async (query: string, auth = admin) => ((await call('GET', `/_security/api_key${query}`, auth)).body as { api_keys: { id: string }[] }).api_keys.map((key) => key.id).sort();
  t.same(await ids(''), [k1.id, k2.id].sort());
  t.same(await ids(`?id=${k1.id}`), [k1.id]);
  t.same(await ids('?name=k2'), [k2.id]);
  t.same(await ids('?username=u2'), [k2.id]);
  t.same(await ids('?owner=true'), [k1.id], "owner=true: the caller's own keys");
  t.same(await ids('?realm_name=default_native'), [k1.id, k2.id].sort());
  t.same(await ids('?realm_name=ldap1'), []);

  t.equal((await raw('PUT', '/_security/user/u1/_disable', { 'content-type': 'application/json' })).status, 200, 'a bodiless request with a JSON content type');
  const media = 'application/vnd.elasticsearch+json; compatible-with=8';
  const viaMedia = await raw('PUT', '/_security/user/u3', { 'content-type': media, accept: media }, JSON.stringify({ password: 'u3-password-123', roles: [] }));
  t.same([viaMedia.status, viaMedia.body], [200, '{"created":true}'], "Elasticsearch's media type, for the body and Accept");

  const kibana = await call('GET', '/_security/enroll/kibana', admin);
  t.equal(kibana.status, 200);
  t.match(kibana.body, { token: { name: String, value: String }, http_ca: String }, 'GET /_security/enroll/kibana answers as /_security/enroll/client');
});

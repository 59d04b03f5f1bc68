import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import fc from 'fast-check';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { httpsJson } from '../helpers/https.js';
import { nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';

const password = 'console-pass-123';

/** A GET whose body is not JSON (the console's page): status, headers and text. */
function httpsText(port: number, ca: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, ca, servername: 'localhost', agent: false }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    })
      .on('error', reject)
      .end();
  });
}

t.test('console sessions: a password login sets a Secure HttpOnly SameSite=Strict cookie; changes need the CSRF token; a logout, a new password or a disabled user ends them at once; a restart keeps them', async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  let node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: password } });
  t.teardown(() => node.signal('SIGKILL'));
  let port = await node.httpPort();
  await node.waitFor(/"event":"bootstrap_password_applied"/);
  const ca = await readFile(`${homePaths(home).certsDir}/http_ca.crt`, 'utf8');
  const call = (method: string, path: string, options: { auth?: string; cookie?: string; csrf?: string; body?: unknown; console?: boolean } = {}) =>
    httpsJson({
      port, ca, method, path,
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.body === undefined ? {} : { body: options.body }),
      headers: { ...(options.cookie ? { cookie: options.cookie } : {}), ...(options.csrf ? { 'x-csrf-token': options.csrf } : {}), ...(options.console ? { 'x-securenode-console': '1' } : {}) },
    });
  const login = async (auth: string) => {
    const answer = await call('POST', '/_security/session', { auth });
    const setCookie = ([answer.headers['set-cookie']].flat()[0] ?? '') as string;
    return { answer, setCookie, cookie: setCookie.split(';')[0]!, csrf: (answer.body as { csrf_token?: string }).csrf_token ?? '' };
  };

  const wrong = await call('POST', '/_security/session', { auth: 'elastic:not-the-password', console: true });
  t.same([wrong.status, wrong.headers['set-cookie'], wrong.headers['www-authenticate']], [401, undefined, undefined], 'a wrong password: 401, no cookie, and no browser prompt for the console');

  const elastic = await login(`elastic:${password}`);
  t.equal(elastic.answer.status, 200);
  t.match(elastic.setCookie, /^securenode_session=[A-Za-z0-9_-]{20}\.[A-Za-z0-9_-]{43}; Max-Age=86400; Path=\/; HttpOnly; Secure; SameSite=Strict$/, 'the cookie and its flags');
  t.match(elastic.answer.body, { username: 'elastic', roles: ['superuser'], csrf_token: /^[A-Za-z0-9_-]{32}$/ });
  t.equal((await call('GET', '/_security/_authenticate', { cookie: elastic.cookie })).status, 200, 'the cookie authenticates');
  const create = { password: 'ada-password-123', roles: ['read-only'] };
  t.same((await call('PUT', '/_security/user/ada', { cookie: elastic.cookie, body: create })).status, 403, 'a change without the CSRF token: 403');
  await fc.assert(
    fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }).filter((value) => /^[\x21-\x7e]+$/.test(value) && value !== elastic.csrf), async (forged) => (await call('PUT', '/_security/user/ada', { cookie: elastic.cookie, csrf: forged, body: create })).status === 403),
    { numRuns: 25 },
  );
  t.equal((await call('PUT', '/_security/user/ada', { cookie: elastic.cookie, csrf: elastic.csrf, body: create })).status, 200, 'with it: done');

  // A first start turns enrollment on (as Elasticsearch's does): a superuser's session makes a token, with the CSRF token.
  t.equal((await call('POST', '/_security/enrollment_token', { cookie: elastic.cookie, body: { scope: 'client' } })).status, 403, 'an enrollment token without the CSRF token: 403');
  const made = await call('POST', '/_security/enrollment_token', { cookie: elastic.cookie, csrf: elastic.csrf, body: { scope: 'node', ttl: '5m' } });
  t.match([made.status, made.body], [200, { token: /^[A-Za-z0-9_=-]+$/, expires: Number }], 'with it: a node enrollment token');

  // A session is opened with a password only: an API key (however wide) or a session cannot open another.
  const key = (await call('POST', '/_security/api_key', { auth: `elastic:${password}`, body: { name: 'no-session' } })).body as { encoded: string };
  const byKey = await httpsJson({ port, ca, method: 'POST', path: '/_security/session', headers: { authorization: `ApiKey ${key.encoded}` } });
  t.same([byKey.status, byKey.headers['set-cookie']], [400, undefined], 'an API key opens no session');
  t.equal((await call('POST', '/_security/session', { cookie: elastic.cookie, csrf: elastic.csrf })).status, 400, 'nor does a session');

  // Forged cookies: never a session, never a 500.
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 80 }).filter((value) => /^[\x21-\x3a\x3c-\x7e]*$/.test(value)), async (value) => (await call('GET', '/_security/_authenticate', { cookie: `securenode_session=${value}` })).status === 401),
    { numRuns: 40 },
  );
  const [id] = elastic.cookie.slice('securenode_session='.length).split('.');
  t.equal((await call('GET', '/_security/_authenticate', { cookie: `securenode_session=${id}.${'A'.repeat(43)}` })).status, 401, 'a known id with another secret: 401');

  // ada logs in; an admin changes her password: her session ends at once, and so does the next one when she is disabled.
  const ada = await login('ada:ada-password-123');
  t.equal((await call('GET', '/_security/_authenticate', { cookie: ada.cookie })).status, 200);
  t.equal((await call('GET', '/_security/user', { cookie: ada.cookie })).status, 200, 'read-only may read users');
  t.equal((await call('PUT', '/_security/user/bea', { cookie: ada.cookie, csrf: ada.csrf, body: create })).status, 403, 'but not create one: RBAC applies to sessions unchanged');
  t.equal((await call('POST', '/_security/user/ada/_password', { auth: `elastic:${password}`, body: { password: 'ada-password-456' } })).status, 200);
  t.equal((await call('GET', '/_security/_authenticate', { cookie: ada.cookie })).status, 401, 'a new password ends the session');
  const again = await login('ada:ada-password-456');
  t.equal((await call('PUT', '/_security/user/ada/_disable', { auth: `elastic:${password}` })).status, 200);
  t.equal((await call('PUT', '/_security/user/ada/_enable', { auth: `elastic:${password}` })).status, 200);
  t.equal((await call('GET', '/_security/_authenticate', { cookie: again.cookie })).status, 401, 'a disabled user loses the session, and enabling her again does not bring it back');

  // A restart keeps the sessions (they are in the store); a logout ends one everywhere.
  await node.stop();
  node = await startNodeProcess(home, { terminal: false });
  port = await node.httpPort();
  t.equal((await call('GET', '/_security/_authenticate', { cookie: elastic.cookie })).status, 200, 'the session survives a restart');
  const logout = await call('DELETE', '/_security/session', { cookie: elastic.cookie, csrf: elastic.csrf });
  t.equal(logout.status, 200);
  t.match([logout.headers['set-cookie']].flat()[0], /^securenode_session=; Max-Age=0; Path=\/; HttpOnly; Secure; SameSite=Strict$/, 'the cookie is cleared');
  t.equal((await call('GET', '/_security/_authenticate', { cookie: elastic.cookie })).status, 401, 'after logout the old cookie opens nothing');
  t.equal((await call('POST', '/_security/session', { auth: `elastic:${password}`, cookie: elastic.cookie })).status, 200, 'and a new login works');
  const audit = await call('GET', '/_security/audit?event=session_opened&size=2', { auth: `elastic:${password}` });
  const events = (audit.body as { events: { event: string; user: string; time: string }[] }).events;
  t.same([audit.status, events.length, events.map((entry) => entry.event)], [200, 2, ['session_opened', 'session_opened']], 'logins are audited, and GET /_security/audit reads the latest');
  t.ok(events[0]!.time >= events[1]!.time, 'newest first');
  const adas = ((await call('GET', '/_security/audit?user=ada&event=session_opened', { auth: `elastic:${password}` })).body as { events: { user: string }[] }).events;
  t.same([adas.length, adas.every((entry) => entry.user === 'ada')], [2, true], "filtered by user: ada's two logins");
  for (const query of ['event=DROP%20TABLE', 'size=99999', 'other=1']) t.equal((await call('GET', `/_security/audit?${query}`, { auth: `elastic:${password}` })).status, 400, `?${query}: 400`);
});

t.test('the console: its page and assets with a strict policy; console.enabled false serves nothing', async (t) => {
  const dir = await nodeOwnedDir(t);
  const on = await startNodeProcess(`${dir}/on`, { terminal: false, env: { ELASTIC_PASSWORD: password } });
  t.teardown(() => on.signal('SIGKILL'));
  const off = await startNodeProcess(`${dir}/off`, { terminal: false, env: { ELASTIC_PASSWORD: password }, args: ['-E', 'console.enabled=false'] });
  t.teardown(() => off.signal('SIGKILL'));
  const [onPort, offPort] = [await on.httpPort(), await off.httpPort()];
  const onCa = await readFile(`${homePaths(`${dir}/on`).certsDir}/http_ca.crt`, 'utf8');
  const offCa = await readFile(`${homePaths(`${dir}/off`).certsDir}/http_ca.crt`, 'utf8');
  const page = await httpsText(onPort, onCa, '/_console/');
  t.equal(page.status, 200, 'the page loads without a credential');
  t.match(page.text, '<label for="username">Username</label>');
  t.equal(page.headers['content-security-policy'], "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
  t.same([page.headers['x-content-type-options'], page.headers['referrer-policy'], page.headers['x-frame-options']], ['nosniff', 'no-referrer', 'DENY']);
  for (const path of ['/_console/', '/_console/console.js', '/_console/console.css']) {
    t.equal((await httpsText(offPort, offCa, path)).status, 404, `console.enabled false: ${path} is 404`);
  }
  t.equal((await httpsJson({ port: offPort, ca: offCa, method: 'POST', path: '/_security/session', auth: `elastic:${password}` })).status, 404, 'and no session opens');
});

t.test('a session ends after console.session.idle_timeout unused, and after absolute_timeout however used', async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: password }, args: ['-E', 'console.session.idle_timeout=2s', '-E', 'console.session.absolute_timeout=5s'] });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  const ca = await readFile(`${homePaths(home).certsDir}/http_ca.crt`, 'utf8');
  const open = async () => String([(await httpsJson({ port, ca, method: 'POST', path: '/_security/session', auth: `elastic:${password}` })).headers['set-cookie']].flat()[0]).split(';')[0]!;
  const status = async (cookie: string) => (await httpsJson({ port, ca, path: '/_security/_authenticate', headers: { cookie } })).status;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const idle = await open();
  t.equal(await status(idle), 200);
  await sleep(2_600);
  t.equal(await status(idle), 401, 'unused for longer than the idle timeout: ended');

  // Used every 0.8 s, it outlives the idle timeout, but not the absolute one.
  const busy = await open();
  const started = Date.now();
  const statuses: number[] = [];
  while (Date.now() - started < 4_400) {
    statuses.push(await status(busy));
    await sleep(800);
  }
  t.same([...new Set(statuses)], [200], `used every 0.8 s for 4.4 s, past the 2 s idle timeout: it stays (${statuses.length} requests)`);
  await sleep(Math.max(0, 5_300 - (Date.now() - started)));
  t.equal(await status(busy), 401, 'past the absolute timeout: ended');
});

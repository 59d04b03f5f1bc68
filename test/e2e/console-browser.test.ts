// The console in Debian's Chromium, driven by playwright-core: what an operator
// does with the printed password, and what must hold for the browser's cookie.
import { X509Certificate } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { chromium, type Browser } from 'playwright-core';
import t from 'tap';
import { decodeEnrollmentToken } from '../../src/enrollment/token.js';
import { homePaths } from '../../src/home/layout.js';
import { bannerValue } from '../helpers/banner.js';
import { httpsJson } from '../helpers/https.js';
import { remember } from '../helpers/secrets-ledger.js';
import { nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';

const executablePath = '/usr/bin/chromium';
const browserSkip = (await access(executablePath).then(() => false, () => true)) ? 'no /usr/bin/chromium: apt-get install chromium (bash .ci/run does)' : false;
/** Screenshots: README's (docs/console/) when SECURENODE_SCREENSHOTS=1 asks to refresh them, else a scratch folder, so that a test run never edits the checkout. */
const shots = process.env.SECURENODE_SCREENSHOTS === '1' ? fileURLToPath(new URL('../../../docs/console/', import.meta.url)) : `${await mkdtemp(join(tmpdir(), 'securenode-shots-'))}/`;

t.test('in Chromium: log in with the password the banner printed, see elastic, create a user, log in as that user and be refused what the role does not allow, log out; a wrong password gets no session', { skip: browserSkip }, async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  // A first start at a terminal, as an operator's: the password is the one the banner prints.
  const node = await startNodeProcess(home, { terminal: true, args: ['-E', 'security.enrollment.enabled=true'] });
  t.teardown(() => node.signal('SIGKILL'));
  await node.waitFor(/Connect to the node[\s\S]*\/_console\/ in a browser and log in as elastic/);
  const port = Number(/https:\/\/localhost:(\d+)\/_console\//.exec(node.output())![1]);
  const password = bannerValue(node.output(), 'Password for the elastic user')!;
  t.match(password, /^[A-Za-z0-9*\-_=+]{20}$/, 'the banner printed the password');
  // Shown at the terminal only: the secrets scan checks that no log or file of the home holds it.
  remember({ kind: 'secret', value: password, source: 'the console test banner' });
  const ca = await readFile(`${homePaths(home).certsDir}/http_ca.crt`, 'utf8');
  const browser: Browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  // The node's CA is not the browser's: this test trusts it for this context only.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, colorScheme: 'light' });
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content.Security.Policy|Refused/i.test(message.text())) violations.push(message.text());
  });
  const url = `https://localhost:${port}/_console/`;
  const response = await page.goto(url);
  t.match(response!.headers()['content-security-policy'], /script-src 'self';/, 'the page comes with its policy');
  await mkdir(shots, { recursive: true });
  const form = page.locator('#login-form');

  // A wrong password: an error, and no cookie.
  await form.getByLabel('Username').fill('elastic');
  await form.getByLabel('Password').fill('not-the-password');
  await page.screenshot({ path: `${shots}login.png` });
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
  t.same(await context.cookies(), [], 'no session for a wrong password');

  await form.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('cell', { name: 'elastic', exact: true }).waitFor();
  t.pass('elastic is in the users list');
  const [cookie] = await context.cookies();
  t.match(cookie, { name: 'securenode_session', httpOnly: true, secure: true, sameSite: 'Strict', path: '/' }, "the cookie's flags, as the browser keeps them");

  page.on('dialog', (dialog) => void dialog.accept());
  await page.locator('#new-username').fill('ada');
  await page.locator('#new-password').fill('ada-password-123');
  await page.locator('#new-roles').fill('read-only');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.getByRole('cell', { name: 'ada', exact: true }).waitFor();
  t.pass('a user created from the console is listed');
  await page.screenshot({ path: `${shots}users.png`, fullPage: true });

  // A role, from the roles page.
  await page.getByRole('button', { name: 'Roles', exact: true }).click();
  await page.locator('#role-name').fill('user-reader');
  await page.locator('#role-endpoints').fill('read /_security/user*\ndeny read /_security/user/elastic');
  await page.locator('#role-entities').fill('read user:*');
  await page.getByRole('button', { name: 'Save role' }).click();
  await page.getByRole('cell', { name: 'user-reader', exact: true }).waitFor();
  const listed = await page.getByRole('row').filter({ hasText: 'user-reader' }).textContent();
  t.match(listed, 'allow read /_security/user*; deny read /_security/user/elastic', 'endpoint rows, the negative one too');
  t.match(listed, 'allow read wildcard:*', 'and the entity row (an entity id * is every entity, as in Kong)');
  const stored = await httpsJson({ port, ca, path: '/_security/role/user-reader', auth: `elastic:${password}` });
  t.match(stored.body, { 'user-reader': { endpoints: [{ endpoint: '/_security/user*', actions: ['read'], negative: false }, { endpoint: '/_security/user/elastic', actions: ['read'], negative: true }], entities: [{ entity_type: 'wildcard', entity_id: '*', actions: ['read'], negative: false }] } }, 'as the API has it');
  t.ok(await page.getByRole('cell', { name: 'superuser (built in)' }).isVisible(), 'built-in roles are listed as such, with no delete');
  t.equal(await page.getByRole('button', { name: 'Delete superuser' }).count(), 0);
  await page.screenshot({ path: `${shots}roles.png`, fullPage: true });

  // ada's roles, set from the users page.
  await page.getByRole('button', { name: 'Users', exact: true }).click();
  await page.locator('#roles-user').fill('ada');
  await page.locator('#roles-list').fill('read-only, user-reader');
  await page.getByRole('button', { name: 'Set roles' }).click();
  await page.getByRole('cell', { name: 'read-only, user-reader' }).waitFor();
  t.pass("a user's roles set from the console");

  // An API key: shown once, and it works with another client.
  await page.getByRole('button', { name: 'API keys', exact: true }).click();
  await page.locator('#key-name').fill('deploy');
  await page.getByRole('button', { name: 'Create API key' }).click();
  await page.locator('#new-key').waitFor();
  const encoded = (await page.locator('#new-key-value').textContent())!;
  t.match(encoded, /^[A-Za-z0-9+/=]{40,}$/, 'the new key is shown');
  await page.getByRole('cell', { name: 'deploy', exact: true }).waitFor();
  // The key itself is masked: a screenshot is no place for a secret, even a test's.
  await page.screenshot({ path: `${shots}api-keys.png`, fullPage: true, mask: [page.locator('#new-key-value')] });
  const caFile = `${homePaths(home).certsDir}/http_ca.crt`;
  const byKey = await execa('curl', ['-sS', '--cacert', caFile, '-H', `Authorization: ApiKey ${encoded}`, `https://localhost:${port}/_security/_authenticate`], { reject: false });
  t.match(JSON.parse(byKey.stdout), { username: 'elastic', authentication_type: 'api_key' }, 'the key works with curl');
  await page.getByRole('button', { name: 'Invalidate deploy' }).click();
  await page.getByRole('cell', { name: 'invalidated' }).waitFor();
  t.equal((await httpsJson({ port, ca, path: '/_security/_authenticate', headers: { authorization: `ApiKey ${encoded}` } })).status, 401, 'invalidated from the console, it opens nothing');

  // An enrollment token for a client: shown once; its key enrolls, and only that.
  await page.getByRole('button', { name: 'Enrollment', exact: true }).click();
  await page.getByLabel('Valid for (1m to 24h)').fill('10m');
  await page.getByRole('button', { name: 'Create enrollment token' }).click();
  await page.locator('#new-token').waitFor();
  const token = decodeEnrollmentToken((await page.locator('#new-token-value').textContent())!);
  t.equal(token.fgr, new X509Certificate(ca).fingerprint256.replace(/:/g, '').toLowerCase(), "the token names the node's CA by its SHA-256 fingerprint");
  await page.screenshot({ path: `${shots}enrollment.png`, fullPage: true, mask: [page.locator('#new-token-value')] });
  const enrollKey = `ApiKey ${Buffer.from(token.key).toString('base64')}`;
  t.equal((await httpsJson({ port, ca, path: '/_security/enroll/client', headers: { authorization: enrollKey } })).status, 200, "the token's key enrolls a client");
  t.equal((await httpsJson({ port, ca, path: '/_security/user', headers: { authorization: enrollKey } })).status, 403, 'and does nothing else');
  for (const [body, status] of [[{ scope: 'client', ttl: '25h' }, 400], [{ scope: 'client', ttl: '10s' }, 400], [{ scope: 'cluster' }, 400], [{ scope: 'node', extra: 1 }, 400]] as const) {
    t.equal((await httpsJson({ port, ca, method: 'POST', path: '/_security/enrollment_token', auth: `elastic:${password}`, body })).status, status, `POST /_security/enrollment_token ${JSON.stringify(body)}: ${status}`);
  }
  t.equal((await httpsJson({ port, ca, method: 'POST', path: '/_security/enrollment_token', auth: 'ada:ada-password-123', body: { scope: 'client' } })).status, 403, 'read-only may not make one');

  await page.getByRole('button', { name: 'Cluster', exact: true }).click();
  await page.getByText(/green, 1 node\(s\) connected/).waitFor();
  await page.screenshot({ path: `${shots}cluster.png`, fullPage: true });
  t.pass('the cluster page shows the node');

  // The audit log, filtered: the failed login and the session this test opened are there.
  await page.getByRole('button', { name: 'Audit log', exact: true }).click();
  await page.getByLabel('Event').fill('session_opened');
  await page.getByRole('button', { name: 'Filter' }).click();
  // The tab's first load listed every event: wait for the filtered list to replace it.
  await page.locator('#audit td', { hasText: /^user_created$/ }).first().waitFor({ state: 'detached' });
  t.ok(await page.getByRole('cell', { name: 'session_opened' }).count() > 0, 'filtered by event: only the sessions opened');
  await page.getByLabel('Event').fill('authentication_failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByRole('cell', { name: 'authentication_failed' }).first().waitFor();
  t.pass("the wrong password's failure is in the audit log");
  await page.screenshot({ path: `${shots}audit.png`, fullPage: true });

  // Log out: the old cookie, sent by another client, opens nothing.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  const after = await httpsJson({ port, ca, path: '/_security/_authenticate', headers: { cookie: `${cookie!.name}=${cookie!.value}` } });
  t.equal(after.status, 401, 'after logout the old cookie gets 401');

  // ada (read-only) sees the users but is not offered what her role does not allow.
  await form.getByLabel('Username').fill('ada');
  await form.getByLabel('Password').fill('ada-password-123');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText('ada (read-only, user-reader)').waitFor();
  await page.getByRole('cell', { name: 'elastic', exact: true }).waitFor();
  t.same(
    [await page.getByRole('button', { name: 'Create user' }).isVisible(), await page.getByRole('button', { name: 'Disable elastic' }).count(), await page.getByRole('button', { name: 'API keys', exact: true }).isVisible(), await page.getByRole('button', { name: 'Enrollment', exact: true }).isVisible(), await page.getByRole('button', { name: 'Audit log', exact: true }).isVisible()],
    [false, 0, true, false, true],
    'read-only (which reads every endpoint, as in Kong) is offered the API keys and audit pages, and no create, disable or enrollment tokens',
  );
  t.same(violations, [], 'no policy violation in the browser');
});

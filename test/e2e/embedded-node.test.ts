// README's "The whole node in your server" example, run as written: a fastify
// app that starts securenode in its own process, on a pseudo-terminal (so its
// banner shows the elastic password once), guarded by the node's RBAC; the
// tools reach the node it embeds.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { bannerValue } from '../helpers/banner.js';
import { freePort } from '../helpers/free-port.js';
import { httpsJson } from '../helpers/https.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess } from '../helpers/node-process.js';

t.test("the README's fastify app: secure on its first start, its password shown once, /reports served to a role", async (t) => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const example = /## The whole node in your server[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!example) throw new Error('README.md has no example under "The whole node in your server"');
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/reports-home`;
  // Only the home moves into the test's directory; the node's ports come from the environment, the app's from PORT.
  const code = example.replace("'./reports-home'", JSON.stringify(home));
  t.not(code, example, 'the example names its home as the test expects');
  // Inside the package, so that `import ... from 'securenode'` resolves to this package.
  const file = fileURLToPath(new URL('../readme-embedded-example.mjs', import.meta.url));
  await writeFile(file, code);
  await chmod(file, 0o644);
  const appPort = await freePort();
  const app = await startNodeProcess(home, { terminal: true, command: [process.execPath, file], env: { PORT: String(appPort), SECURENODE_HTTP_PORT: '0', SECURENODE_TRANSPORT_PORT: '0' } });
  t.teardown(() => app.signal('SIGKILL'));
  const password = bannerValue((await app.waitFor(/Password for the elastic user[^\n]*\n[^\n]*\n/, 60_000)).input!, 'Password for the elastic user');
  t.match(password, /^\S{20}$/, 'the banner shows a generated password');
  const caFile = `${homePaths(home).certsDir}/http_ca.crt`;
  const ca = await readFile(caFile, 'utf8');
  // The node's own port, as the tools find it.
  const address = JSON.parse(await readFile(`${homePaths(home).dataDir}/node.address.json`, 'utf8')) as { httpPort: number };
  const port = address.httpPort;
  const admin = `elastic:${password}`;
  t.equal((await httpsJson({ port, ca, method: 'PUT', path: '/_security/role/reports-reader', auth: admin, body: { endpoints: [{ endpoint: '/reports', actions: ['read'] }] } })).status, 200);
  t.equal((await httpsJson({ port, ca, method: 'PUT', path: '/_security/user/ada', auth: admin, body: { password: 'ada-password-123', roles: ['reports-reader'] } })).status, 200);
  t.equal((await httpsJson({ port, ca, method: 'PUT', path: '/_security/user/bob', auth: admin, body: { password: 'bob-password-123', roles: [] } })).status, 200);

  const curl = async (path: string, extra: string[] = []) => {
    const answer = await execa('curl', ['-sS', '--cacert', caFile, '-D', '-', '-w', '\\n%{http_code}', ...extra, `https://localhost:${appPort}${path}`], { reject: false });
    const lines = answer.stdout.split('\n');
    const status = Number(lines.pop());
    return { status, text: lines.join('\n') };
  };
  for (let tries = 0; (await curl('/health')).status !== 200 && tries < 100; tries++) await new Promise((resolve) => setTimeout(resolve, 100));
  t.match((await curl('/health')).text, /\{"ok":true\}$/, 'a public path needs no credential');
  const reports = await curl('/reports', ['-u', 'ada:ada-password-123']);
  t.same([reports.status, reports.text.split('\r\n\r\n').at(-1)], [200, '{"reports":["2026-11"],"for":"ada"}'], 'the role reads /reports, and the app knows who asked');
  const anonymous = await curl('/reports');
  t.equal(anonymous.status, 401, 'no credential: 401');
  t.match(anonymous.text, /^www-authenticate: Basic realm="securenode", charset="UTF-8"\r?$/im, "with the node's challenge, so a browser prompts");
  t.equal((await curl('/reports', ['-u', 'ada:wrong-password-1'])).status, 401, 'a wrong password: 401');
  t.equal((await curl('/reports', ['-u', 'bob:bob-password-123'])).status, 403, 'a user whose roles do not name /reports: 403');
  t.equal((await curl('/reports', ['-u', 'ada:ada-password-123', '-X', 'POST', '-d', 'x'])).status, 403, 'a reader that writes: 403');
  t.equal((await curl('/%72eports', ['-u', 'bob:bob-password-123', '--path-as-is'])).status, 403, 'an encoded spelling is decided as the path');
  t.equal((await curl('/reports', ['-H', `Authorization: Basic ${Buffer.from('ada:ada-password-123').toString('base64')}`, '-H', 'Authorization: Basic ZWxhc3RpYzp4'])).status, 400, 'two Authorization headers: refused, not half-read');

  // The tools reach the embedded node as they reach any node.
  const reset = await runCliAsNodeUser(['reset-password', '-u', 'ada', '-b', '--home', home]);
  t.equal(reset.exitCode, 0, reset.stderr);
  const newPassword = /New value: (\S+)/.exec(reset.stdout)?.[1];
  t.ok(newPassword, 'reset-password printed the new password');
  t.equal((await curl('/reports', ['-u', 'ada:ada-password-123'])).status, 401, 'the old password no longer opens the app');
  t.equal((await curl('/reports', ['-u', `ada:${newPassword}`])).status, 200, 'the new one does');
  const token = await runCliAsNodeUser(['create-enrollment-token', '-s', 'client', '--home', home]);
  t.equal(token.exitCode, 0, token.stderr);
  t.match(token.stdout.trim(), /^[A-Za-z0-9+/=]{40,}$/, 'create-enrollment-token reaches it');

  // Ctrl-C stops the app and the node, and unlocks the home. Typed at the terminal, as a person does: the terminal
  // sends SIGINT to the app. (A signal to script(1) instead is passed on as SIGTERM, and script kills the app about
  // 2 s later if it is still closing, util-linux 2.38's "Session terminated, killing shell": on a busy machine the
  // address stayed behind, in CI and here.)
  app.child.stdin!.write('\x03');
  const exit = await app.exited();
  t.equal(exit.code, 0, 'the example exits cleanly on Ctrl-C');
  await t.rejects(readFile(`${homePaths(home).dataDir}/node.address.json`), { code: 'ENOENT' }, 'the node removed its address on the way out');
});

// Forward auth behind Debian's nginx (auth_request), as README's snippet sets it up:
// the upstream is a plain HTTP server with no security of its own.
import { access, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { execa } from 'execa';
import fc from 'fast-check';
import t from 'tap';
import { freePort } from '../helpers/free-port.js';
import { httpsJson } from '../helpers/https.js';
import { nodeOwnedDir } from '../helpers/node-process.js';
import { nodeWithAppReader } from '../helpers/app-reader.js';

const nginxSkip = (await access('/usr/sbin/nginx').then(() => false, () => true)) ? 'no /usr/sbin/nginx: apt-get install nginx-light (bash .ci/run does)' : false;
const password = 'forward-pass-123';

t.test('nginx auth_request in front of an app with no security: 401 without a credential, 200 with the identity for what the role allows, 403 for the rest; the app never sees the credential', { skip: nginxSkip }, async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  const { port, caFile, ca } = await nodeWithAppReader(t, home, password, [{ endpoint: '/app/*', actions: ['read'] }, { endpoint: '/app/admin/*', actions: ['read'], negative: true }]);
  // The app: answers with what it was sent.
  const seen: Record<string, unknown>[] = [];
  const app: Server = createServer((request, response) => {
    seen.push({ url: request.url, headers: request.headers });
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ app: true, user: request.headers['x-securenode-user'] ?? null, roles: request.headers['x-securenode-roles'] ?? null }));
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => app.close(resolve)));
  const appPort = (app.address() as { port: number }).port;

  const nginxPort = await freePort();
  const snippet = (await readFile(new URL('../../../templates/nginx-forward-auth.conf', import.meta.url), 'utf8'))
    .replaceAll('https://localhost:9200', `https://127.0.0.1:${port}`)
    .replaceAll('/etc/securenode/http_ca.crt', caFile)
    .replaceAll('http://127.0.0.1:3000', `http://127.0.0.1:${appPort}`)
    .replaceAll('listen 443 ssl;', `listen 127.0.0.1:${nginxPort};`)
    .replace(/^\s*ssl_certificate.*$/gm, '');
  const conf = `${dir}/nginx.conf`;
  await writeFile(conf, `worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log ${dir}/nginx-error.log info;\npid ${dir}/nginx.pid;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n${snippet}\n}\n`);
  const nginx = execa('/usr/sbin/nginx', ['-p', dir, '-c', conf], { reject: false });
  t.teardown(() => nginx.kill('SIGKILL'));
  const url = (path: string) => `http://127.0.0.1:${nginxPort}${path}`;
  const curl = async (path: string, auth?: string, extra: string[] = []) => {
    const answer = await execa('curl', ['-sS', '-o', '-', '-w', '\\n%{http_code}', ...(auth ? ['-u', auth] : []), ...extra, url(path)], { reject: false });
    const lines = answer.stdout.split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n') };
  };
  for (let tries = 0; (await curl('/app/x').catch(() => ({ status: 0 }))).status === 0 && tries < 100; tries++) await new Promise((resolve) => setTimeout(resolve, 50));

  const none = await curl('/app/reports');
  t.equal(none.status, 401, 'no credential: 401, and the app saw nothing');
  t.equal(seen.length, 0);
  const challenge = await execa('curl', ['-sS', '-o', '/dev/null', '-D', '-', url('/app/reports')]);
  t.match(challenge.stdout, /^WWW-Authenticate: Basic realm="securenode", charset="UTF-8"/m, "nginx passes the node's challenge, so a browser prompts");
  const wrong = await curl('/app/reports', 'ada:not-the-password');
  t.equal(wrong.status, 401, 'a wrong password: 401');
  const allowed = await curl('/app/reports?month=11', 'ada:ada-password-123');
  t.same([allowed.status, JSON.parse(allowed.body)], [200, { app: true, user: 'ada', roles: 'app-reader' }], 'allowed: the app answers, told who asked');
  const sent = seen.at(-1)!.headers as Record<string, string>;
  t.equal(sent.authorization, undefined, 'the app never receives the credential');
  t.equal((await curl('/app/admin/users', 'ada:ada-password-123')).status, 403, 'a negative row: 403');
  t.equal((await curl('/app/reports', 'ada:ada-password-123', ['-X', 'DELETE'])).status, 403, 'a method the role lacks: 403');
  t.equal((await curl('/elsewhere', 'ada:ada-password-123')).status, 404, 'outside the protected location nginx answers itself');

  // A client's own identity headers never reach the app: nginx sets them from the node's answer.
  const forged = await curl('/app/reports', 'ada:ada-password-123', ['-H', 'X-Securenode-User: elastic', '-H', 'X-Securenode-Roles: superuser']);
  t.same(JSON.parse(forged.body), { app: true, user: 'ada', roles: 'app-reader' }, 'forged identity headers are replaced');

  // Encoded paths decide as the app routes them: no spelling of /app/admin/ gets through (nginx passes $request_uri as the client sent it).
  for (const path of ['/app/x/../admin/users', '/app/./admin/users', '/app/admin%2Fusers', '/app/%2e%2e/app/admin/users', '/app//admin/users/../users']) {
    t.ok([400, 403].includes((await curl(path, 'ada:ada-password-123', ['--path-as-is'])).status), `${path}: refused`);
  }
  await fc.assert(
    fc.asyncProperty(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), fc.boolean(), async (encode, upper) => {
      const admin = [...'admin'].map((letter, index) => (encode[index] ? `%${letter.charCodeAt(0).toString(16)[upper ? 'toUpperCase' : 'toLowerCase']()}` : letter)).join('');
      return (await curl(`/app/${admin}/users`, 'ada:ada-password-123', ['--path-as-is'])).status === 403;
    }),
    { numRuns: 20 },
  );
  t.equal(seen.filter((request) => String(request.url).includes('dmin') || String(request.url).includes('%')).length, 0, 'and the app saw none of them');

  // The endpoint itself, as Traefik and Caddy call it.
  const traefik = await httpsJson({ port, ca, path: '/_auth/forward', auth: 'ada:ada-password-123', headers: { 'x-forwarded-uri': '/app/reports', 'x-forwarded-method': 'GET', 'x-forwarded-host': 'app.example' } });
  t.same([traefik.status, traefik.headers['x-securenode-user'], traefik.headers['x-securenode-roles']], [200, 'ada', 'app-reader']);
  t.equal((await httpsJson({ port, ca, path: '/_auth/forward', auth: 'ada:ada-password-123' })).status, 400, 'no original request named: 400');
  t.equal((await httpsJson({ port, ca, path: '/_auth/forward' })).status, 401, 'no credential: 401');
  t.match((await httpsJson({ port, ca, path: '/_auth/forward' })).headers['www-authenticate'], 'Basic realm="securenode"', 'with the challenge, so a browser prompts');
});

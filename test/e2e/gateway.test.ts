// The gateway (gateway.routes) in front of upstreams with no security of their
// own: a real `securenode start`, real upstreams in this process (HTTP, HTTPS
// with a private CA, WebSocket, one that is down, one that is slow), real
// clients (curl, Node's https, ws).
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { execa } from 'execa';
import fc from 'fast-check';
import t from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { freePort } from '../helpers/free-port.js';
import { httpsJson } from '../helpers/https.js';
import { nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';
import { nodeWithAppReader } from '../helpers/app-reader.js';
import { openssl } from '../helpers/openssl.js';

const password = 'gateway-pass-123';
const ada = 'ada:ada-password-123';

/** An upstream that answers with what it received: method, path, headers and the SHA-256 of the body. */
async function echoUpstream(t: { teardown(fn: () => unknown): void }, listen: (handler: (request: IncomingMessage, body: Buffer) => { status?: number; body: unknown } | undefined) => Server) {
  const seen: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
  const server = listen((request, body) => {
    seen.push({ method: request.method!, url: request.url!, headers: request.headers });
    return { body: { method: request.method, url: request.url, headers: request.headers, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length } };
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { seen, port: (server.address() as { port: number }).port, server };
}

const handlerOf = (answer: (request: IncomingMessage, body: Buffer) => { status?: number; body: unknown } | undefined) => (request: IncomingMessage, response: import('node:http').ServerResponse) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const reply = answer(request, Buffer.concat(chunks));
    if (!reply) return;
    response.statusCode = reply.status ?? 200;
    response.setHeader('content-type', 'application/json');
    response.setHeader('set-cookie', ['app_cookie=1; Path=/', 'securenode_session=planted; Path=/']);
    response.end(JSON.stringify(reply.body));
  });
};

/** A CA and a server certificate for 127.0.0.1 made by openssl, for the HTTPS upstream. */
async function privateCa(dir: string, name: string) {
  const run = async (args: string[]) => {
    const result = await openssl(args);
    if (result.exitCode !== 0) throw new Error(result.stderr);
  };
  await run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/${name}-ca.key`, '-out', `${dir}/${name}-ca.crt`, '-subj', `/CN=${name} CA`, '-days', '2']);
  await run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/${name}.key`, '-out', `${dir}/${name}.csr`, '-subj', '/CN=127.0.0.1']);
  await writeFile(`${dir}/${name}.ext`, 'subjectAltName=IP:127.0.0.1\n');
  await run(['x509', '-req', '-in', `${dir}/${name}.csr`, '-CA', `${dir}/${name}-ca.crt`, '-CAkey', `${dir}/${name}-ca.key`, '-CAcreateserial', '-out', `${dir}/${name}.crt`, '-days', '2', '-extfile', `${dir}/${name}.ext`]);
  return { ca: `${dir}/${name}-ca.crt`, key: await readFile(`${dir}/${name}.key`), cert: await readFile(`${dir}/${name}.crt`) };
}

t.test('the gateway in front of upstreams with no security of their own', async (t) => {
  const dir = await nodeOwnedDir(t);
  const home = `${dir}/home`;
  const app = await echoUpstream(t, (answer) => createServer(handlerOf(answer)));
  const webSockets = new WebSocketServer({ server: app.server });
  const upgrades: IncomingMessage['headers'][] = [];
  webSockets.on('connection', (socket, request) => {
    upgrades.push(request.headers);
    socket.on('message', (data) => socket.send(`echo:${String(data)}:${request.headers['x-securenode-user']}`));
  });
  const slow = await echoUpstream(t, (answer) => createServer(handlerOf(() => undefined)));
  void answerNever(slow);
  // Answers 100 ms after the request has come in whole: long enough for a client to hang up first.
  // Counts what it received and what is over (answered, or its connection gone), so that a test can wait for the last late answer.
  const lateRequests = { received: 0, settled: 0 };
  const late = await echoUpstream(t, (answer) =>
    createServer((request, response) => {
      lateRequests.received++;
      response.once('close', () => lateRequests.settled++);
      setTimeout(() => handlerOf(answer)(request, response), 100);
    }),
  );
  const good = await privateCa(dir, 'good');
  const other = await privateCa(dir, 'other');
  const tlsApp = await echoUpstream(t, (answer) => createHttpsServer({ key: good.key, cert: good.cert }, handlerOf(answer)));
  const rogue = await echoUpstream(t, (answer) => createHttpsServer({ key: other.key, cert: other.cert }, handlerOf(answer)));
  const downPort = await freePort();
  const routes = [
    `{name: app, path: /app, upstream: "http://127.0.0.1:${app.port}"}`,
    `{name: api, path: /api/v1, upstream: "http://127.0.0.1:${app.port}/base", strip_path: true}`,
    `{name: down, path: /down, upstream: "http://127.0.0.1:${downPort}"}`,
    `{name: slow, path: /slow, upstream: "http://127.0.0.1:${slow.port}", timeout: 1s}`,
    `{name: late, path: /late, upstream: "http://127.0.0.1:${late.port}"}`,
    `{name: tls, path: /tls, upstream: "https://127.0.0.1:${tlsApp.port}", ca: "${good.ca}"}`,
    `{name: rogue, path: /rogue, upstream: "https://127.0.0.1:${rogue.port}", ca: "${good.ca}"}`,
  ];
  const { node, port, caFile, ca, admin } = await nodeWithAppReader(t, home, password, [{ endpoint: '/app/*', actions: ['read'] }, { endpoint: '/app/admin/*', actions: ['read'], negative: true }, { endpoint: '/api/v1/*', actions: ['read', 'create'] }], { SECURENODE_GATEWAY_ROUTES: `[${routes.join(', ')}]` });
  const url = (path: string) => `https://127.0.0.1:${port}${path}`;
  const curl = async (path: string, auth?: string, extra: string[] = []) => {
    const answer = await execa('curl', ['-sS', '--cacert', caFile, '-o', '-', '-w', '\\n%{http_code}', ...(auth ? ['-u', auth] : []), ...extra, url(path)], { reject: false });
    const lines = answer.stdout.split('\n');
    const status = Number(lines.pop());
    const text = lines.join('\n');
    return { status, body: (text.startsWith('{') ? JSON.parse(text) : text) as Record<string, any> };
  };

  t.test('401 without a credential, and the upstream sees nothing', async (t) => {
    const none = await curl('/app/reports');
    t.same([none.status, none.body], [401, { error: 'Invalid credentials' }]);
    t.equal((await curl('/app/reports', 'ada:wrong-password')).status, 401);
    t.equal(app.seen.length, 0);
  });

  t.test("allowed: the upstream answers, told who asked, and never gets the client's credential", async (t) => {
    const answer = await curl('/app/reports?month=11', ada, ['-H', 'X-Securenode-User: elastic', '-H', 'X-Securenode-Roles: superuser', '-H', 'Cookie: app_pref=dark; securenode_session=abc.def', '-H', 'X-CSRF-Token: t', '-H', 'X-Forwarded-For: 10.9.8.7']);
    t.equal(answer.status, 200);
    const headers = answer.body['headers'];
    t.same([answer.body['method'], answer.body['url']], ['GET', '/app/reports?month=11'], 'the path and query as sent');
    t.same([headers['x-securenode-user'], headers['x-securenode-roles']], ['ada', 'app-reader'], 'the identity, set by the node (the forged ones are gone)');
    t.same([headers['authorization'], headers['x-csrf-token'], headers['securenode-admin-token']], [undefined, undefined, undefined], 'no credential reaches the upstream');
    t.equal(headers['cookie'], 'app_pref=dark', "the app's own cookie passes; the node's session cookie does not");
    t.same([headers['x-forwarded-for'], headers['x-forwarded-proto'], headers['x-forwarded-host']], ['10.9.8.7, 127.0.0.1', 'https', `127.0.0.1:${port}`]);
    const made = await httpsJson({ port, ca, method: 'POST', path: '/_security/user/ada/_token', auth: ada, body: { name: 'gateway' } });
    const byToken = await curl('/app/reports', undefined, ['-H', `Securenode-Admin-Token: ${(made.body as { token: string }).token}`]);
    t.same([byToken.status, byToken.body['headers']['x-securenode-user'], byToken.body['headers']['securenode-admin-token']], [200, 'ada', undefined], 'an admin token authenticates, and stays with the node');
    const raw = await execa('curl', ['-sS', '--cacert', caFile, '-u', ada, '-D', '-', '-o', '/dev/null', url('/app/reports')]);
    t.match(raw.stdout, /^set-cookie: app_cookie=1; Path=\/\r?$/im, "the upstream's cookies reach the client");
    t.notMatch(raw.stdout, /securenode_session=planted/, 'but never one named as the console session');
  });

  t.test("403 for what the role may not do; the upstream never sees it", async (t) => {
    const before = app.seen.length;
    const write = await curl('/app/reports', ada, ['-X', 'POST', '--data', 'x=1']);
    t.same([write.status, write.body], [403, { error: 'ada, you do not have permissions to create this resource' }], 'a reader that writes');
    t.equal((await curl('/app/admin/users', ada)).status, 403, 'a negative row');
    t.equal((await curl('/elsewhere', ada)).status, 404, 'no route there');
    for (const path of ['/app/x/../admin/users', '/app/./admin/users', '/app/admin%2Fusers', '/app/%2e%2e/app/admin/users']) {
      t.ok([400, 403].includes((await curl(path, ada, ['--path-as-is'])).status), `${path}: refused`);
    }
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), fc.boolean(), async (encode, upper) => {
        const spelled = [...'admin'].map((letter, index) => (encode[index] ? `%${letter.charCodeAt(0).toString(16)[upper ? 'toUpperCase' : 'toLowerCase']()}` : letter)).join('');
        return (await curl(`/app/${spelled}/users`, ada, ['--path-as-is'])).status === 403;
      }),
      { numRuns: 20 },
    );
    t.equal(app.seen.length, before, 'the upstream saw none of them');
  });

  t.test('a superuser reaches every route; strip_path takes the route off and puts the base on; bodies stream both ways', async (t) => {
    const stripped = await curl('/api/v1/items/7?x=1', admin);
    t.same([stripped.status, stripped.body['url']], [200, '/base/items/7?x=1']);
    const created = await curl('/api/v1/items', ada, ['-X', 'POST', '-H', 'content-type: application/json', '--data', '{"name":"x"}']);
    t.same([created.status, created.body['method'], created.body['bytes']], [200, 'POST', 12], 'a create the role allows, body and all');
    // 24 MiB: far over the node's own 1 MiB API bodies, streamed through rather than parsed.
    const big = Buffer.alloc(24 * 1024 * 1024, 'securenode');
    await writeFile(`${dir}/big.bin`, big);
    const upload = await curl('/app/upload', admin, ['-X', 'PUT', '-H', 'content-type: application/octet-stream', '--data-binary', `@${dir}/big.bin`]);
    t.same([upload.status, upload.body['bytes'], upload.body['sha256']], [200, big.length, createHash('sha256').update(big).digest('hex')], node.output().split('\n').filter((line) => line.includes('gateway_upstream')).join('\n'));
    const text = await curl('/app/notes', admin, ['-X', 'POST', '-H', 'content-type: text/plain', '--data', 'plain text']);
    t.same([text.status, text.body['bytes']], [200, 10], 'any content type goes through as it is');
  });

  t.test('a WebSocket through the gateway: authenticated, authorized, echoed, without the credential', async (t) => {
    const open = (auth?: string, path = '/app/ws') =>
      new Promise<{ socket?: WebSocket; status?: number }>((resolve) => {
        const socket = new WebSocket(`wss://127.0.0.1:${port}${path}`, { ca, headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} });
        socket.once('open', () => resolve({ socket }));
        socket.once('unexpected-response', (_request, response) => resolve({ status: response.statusCode }));
        socket.once('error', () => resolve({}));
      });
    t.equal((await open()).status, 401, 'no credential: 401, no upgrade');
    t.equal((await open(ada, '/app/admin/ws')).status, 403, 'a negative row: 403, no upgrade');
    t.equal(upgrades.length, 0, 'the upstream saw no upgrade');
    const { socket } = await open(ada);
    t.ok(socket, 'upgraded');
    const echoed = new Promise<string>((resolve) => socket!.once('message', (data) => resolve(String(data))));
    socket!.send('hello');
    t.equal(await echoed, 'echo:hello:ada');
    t.same([upgrades[0]!['authorization'], upgrades[0]!['x-securenode-user'], upgrades[0]!['x-securenode-roles']], [undefined, 'ada', 'app-reader']);
    socket!.close();
  });

  t.test('an upstream that is down: 502 with the route named, and logged', async (t) => {
    const down = await curl('/down/x', admin);
    t.same([down.status, down.body], [502, { error: "the upstream of route 'down' refused the connection; see the node log" }]);
    await node.waitFor(new RegExp(`"event":"gateway_upstream_failed","route":"down","upstream":"http://127.0.0.1:${downPort}","code":"ECONNREFUSED","status":502`));
  });

  t.test("a slow upstream: 504 after the route's timeout", async (t) => {
    const started = Date.now();
    const late = await curl('/slow/x', admin);
    t.same([late.status, late.body], [504, { error: "the upstream of route 'slow' did not answer within 1s; see the node log" }]);
    t.ok(Date.now() - started >= 900, 'not before the timeout');
  });

  t.test('clients that hang up at any moment, mid-body or while the upstream answers, never bring the node down', async (t) => {
    // reply-from destroys the upstream's body when the client is gone; undici then emits an error on it, which crashes
    // a process that has no listener (measured with an undici Pool as the proxy's dispatcher). Hang-ups at generated moments.
    const basic = `Basic ${Buffer.from(admin).toString('base64')}`;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 160 }), fc.boolean(), async (after, withBody) => {
        const outgoing = httpsRequest({ host: '127.0.0.1', port, path: '/late/x', method: withBody ? 'POST' : 'GET', servername: 'localhost', ca, agent: false, headers: { authorization: basic, ...(withBody ? { 'content-length': '1000' } : {}) } });
        outgoing.on('error', () => {});
        if (withBody) outgoing.write('x'.repeat(10));
        else outgoing.end();
        await new Promise((resolve) => setTimeout(resolve, after));
        outgoing.destroy();
      }),
      { numRuns: 30 },
    );
    // Until every request the upstream got is answered or gone: the crash came with a late answer to a client that had left.
    const deadline = Date.now() + 10_000;
    while (lateRequests.settled < lateRequests.received && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    t.equal(lateRequests.settled, lateRequests.received, `every late answer is over (${lateRequests.received} requests reached the upstream)`);
    const alive = await curl('/late/x', admin);
    t.same([alive.status, alive.body['url']], [200, '/late/x'], 'the node still proxies');
    t.notMatch(node.output(), /Unhandled 'error' event|RequestAbortedError|uncaught/i, 'and logged no crash');
  });

  t.test("an https upstream is checked against the route's CA", async (t) => {
    const trusted = await curl('/tls/x', admin);
    t.same([trusted.status, trusted.body['headers']?.['x-securenode-user']], [200, 'elastic'], 'signed by the route CA: proxied');
    const impostor = await curl('/rogue/x', admin);
    t.equal(impostor.status, 502, 'signed by another CA: refused');
    t.match(impostor.body['error'], /^the upstream of route 'rogue' presented a certificate its CA does not sign/);
    t.equal(rogue.seen.length, 0, 'and the impostor never got the request');
  });
});

/** Hold every request open: the upstream never answers. */
function answerNever(upstream: { server: Server }) {
  upstream.server.on('request', () => {});
}

t.test('gateway.routes are checked before anything starts: a route on the node\'s own API, a bad upstream, two routes on one path', async (t) => {
  const dir = await nodeOwnedDir(t);
  const cases: [string, RegExp][] = [
    ['[{name: x, path: /_security, upstream: "http://127.0.0.1:1"}]', /path must not start with '\/_': those paths are the node's own API/],
    ['[{name: x, path: /, upstream: "http://127.0.0.1:1"}]', /route 'x': path must be a prefix such as \/app: the node answers \/ and \/_\* itself/],
    ['[{name: x, path: /app, upstream: "ftp://127.0.0.1:1"}]', /route 'x': upstream must be an http:\/\/ or https:\/\/ URL/],
    ['[{name: x, path: /app, upstream: "http://u:p@127.0.0.1:1"}]', /with no user, query or fragment/],
    ['[{name: a, path: /app, upstream: "http://127.0.0.1:1"}, {name: b, path: /app, upstream: "http://127.0.0.1:2"}]', /routes 'a' and 'b' have the same path/],
    ['[{name: x, path: /app, upstream: "http://127.0.0.1:1", strip: true}]', /unknown field 'strip' \(did you mean 'strip_path'\?\)/],
  ];
  for (const [routes, message] of cases) {
    const node = await startNodeProcess(`${dir}/home`, { terminal: false, env: { SECURENODE_GATEWAY_ROUTES: routes } });
    const exit = await node.exited();
    t.equal(exit.code, 78, `${routes}: exit 78`);
    t.match(node.output(), message);
    t.match(node.output(), /environment variable SECURENODE_GATEWAY_ROUTES: invalid value/);
  }
});

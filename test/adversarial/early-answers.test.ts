// Attack: the answers given before fastify routes a request (EarlyAnswers) are a
// second way in. Any request, in any form (doubled or differently cased
// headers, an admin token beside a password, encoded and dotted paths, other
// methods, HTTP/1.0, bodies, refused and throttled credentials), gets the very
// bytes from a node that answers early as from its twin that routes everything;
// a revoked user or role stops at once on a connection the early path has served.
import { deepStrictEqual } from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { mkdtemp } from 'node:fs/promises';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { createLogger } from '../../src/logging/logger.js';
import type { AuditContext } from '../../src/logging/audit.js';
import { loadIdentity } from '../../src/node/data-dir.js';
import { EarlyAnswers, jsonAnswer } from '../../src/node/early-answers.js';
import { startNode } from '../../src/node/server.js';
import { hashPassword } from '../../src/security/password.js';
import type { Principal } from '../../src/node/authenticator.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { inProcessNode, superPassword } from '../helpers/in-process-node.js';

type Node = Awaited<ReturnType<typeof inProcessNode>>;

/** The node's twin: the same home, store, keys and identity, with every request routed by fastify; its audit events in memory. */
async function routedTwin(t: Test, node: Node) {
  const { configured, store } = node;
  const audited: { event: string; request_id?: string }[] = [];
  const running = await startNode({
    settings: configured.settings,
    tls: configured.tls,
    store,
    identity: await loadIdentity(configured.paths.dataDir),
    logger: await createLogger(await mkdtemp(`${configured.paths.home}/twin-logs-`), { stdout: new Writable({ write: (_chunk, _encoding, done) => done() }) }),
    audit: { record: (event, context: AuditContext) => void audited.push({ event, ...(context.requestId ? { request_id: context.requestId } : {}) }) },
    version: '0.1.0',
    tokenHashKey: Buffer.alloc(32, 7),
    earlyAnswers: false,
  });
  t.teardown(() => running.close());
  return { port: running.http.port, audited };
}

/** One TLS connection from `source` (any 127/8 address: the throttle counts per address), requests written one after another as these bytes. */
async function exchange(port: number, ca: string, source: string, requests: readonly { method: string; bytes: string }[]): Promise<string[]> {
  const socket: TLSSocket = connect({ socket: netConnect({ host: '127.0.0.1', port, localAddress: source }), ca, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  let buffered = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  });
  socket.on('end', () => {
    ended = true;
    wake?.();
  });
  // A connection that ends before the whole answer fails the exchange at once, naming what came.
  const more = () => {
    if (ended) throw new Error(`the connection ended in the middle of an answer: ${JSON.stringify(buffered.toString('latin1'))}`);
    return new Promise<void>((resolve) => (wake = resolve));
  };
  const answers: string[] = [];
  try {
    for (const { method, bytes } of requests) {
      socket.write(bytes);
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) === -1) await more();
      const head = buffered.subarray(0, end).toString('latin1');
      const length = method === 'HEAD' ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      while (buffered.length < end + 4 + length) await more();
      // The date is the one thing that may differ between two answers to the same request.
      answers.push(`${head.replace(/\r\nDate: [^\r]*/, '')}\r\n\r\n${buffered.subarray(end + 4, end + 4 + length).toString('utf8')}`);
      buffered = buffered.subarray(end + 4 + length);
      if (/\r\nConnection: close/i.test(head)) break;
    }
  } finally {
    socket.destroy();
  }
  return answers;
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

t.test('any request gets the same bytes from a node that answers early as from one that routes everything (fast-check)', async (t) => {
  const node = await inProcessNode(t, 'on');
  const { store, configured } = node;
  await store.putRole({ id: 'root-reader', name: 'root-reader', endpoints: [{ endpoint: '/', actions: ['read'], negative: false }], entities: [] });
  await store.putRole({ id: 'health-reader', name: 'health-reader', endpoints: [{ endpoint: '/_cluster/health', actions: ['read'], negative: false }], entities: [] });
  await store.putRole({ id: 'not-root', name: 'not-root', endpoints: [{ endpoint: '*', actions: ['read'], negative: false }, { endpoint: '/', actions: ['read'], negative: true }], entities: [] });
  const hash = await hashPassword('early-password-1');
  await store.putUser({ username: 'reader', passwordHash: hash, roles: ['root-reader'], enabled: true });
  await store.putUser({ username: 'outsider', passwordHash: hash, roles: ['health-reader'], enabled: true });
  await store.putUser({ username: 'denied', passwordHash: hash, roles: ['not-root'], enabled: true });
  await store.putUser({ username: 'off', passwordHash: hash, roles: ['superuser'], enabled: false });
  const twin = await routedTwin(t, node);
  const tokenHeader = configured.settings.string('security.rbac.token_header')!;
  const credentials = {
    superuser: basic('elastic', superPassword),
    reader: basic('reader', 'early-password-1'),
    outsider: basic('outsider', 'early-password-1'),
    denied: basic('denied', 'early-password-1'),
    disabled: basic('off', 'early-password-1'),
    wrong: basic('reader', 'early-password-2'),
    bearer: 'Bearer dG9rZW4',
    apiKey: 'ApiKey aWQ6a2V5',
    operator: 'Operator x',
  };
  const request = fc.record({
    method: fc.constantFrom('GET', 'GET', 'GET', 'GET', 'HEAD', 'POST', 'DELETE'),
    path: fc.constantFrom('/', '/', '/_security/_authenticate', '/_security/_authenticate', '/?pretty', '/_security/_authenticate?x=1', '//', '/%2F', '/%2f', '/_security/_authenticate/', '/_SECURITY/_authenticate', '/_security/%5Fauthenticate', '/_security/./_authenticate', '/./', '/_health', '/_security/user', '/_security/role/root-reader', '/x', '/#'),
    credential: fc.constantFrom(...(Object.keys(credentials) as (keyof typeof credentials)[]), 'superuser', 'reader', 'outsider', 'denied', 'none'),
    name: fc.constantFrom('authorization', 'Authorization', 'AUTHORIZATION', 'aUtHoRiZaTiOn'),
    doubled: fc.constantFrom(false, false, false, true),
    tokens: fc.constantFrom(0, 0, 0, 0, 1, 2),
    close: fc.constantFrom(false, false, false, true),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'),
    body: fc.constantFrom('', '', '', '{}', 'not json'),
  });
  const bytesOf = (each: typeof request extends fc.Arbitrary<infer R> ? R : never) => {
    const lines = [`${each.method} ${each.path} ${each.version}`, 'Host: localhost'];
    if (each.credential !== 'none') {
      const value = credentials[each.credential];
      lines.push(`${each.name}: ${value}`);
      if (each.doubled) lines.push(`authorization: ${value}`);
    }
    for (let index = 0; index < each.tokens; index++) lines.push(`${tokenHeader}: snadm_${'A'.repeat(20)}.${'B'.repeat(43)}`);
    // A body on any method, GET's included: fastify reads none for GET, and neither does an early answer.
    if (each.body !== '') lines.push('content-type: application/json', `content-length: ${each.body.length}`);
    if (each.close) lines.push('Connection: close');
    // HTTP/1.0 asks for keep-alive, or its connection would end with the first answer.
    else if (each.version === 'HTTP/1.0') lines.push('Connection: keep-alive');
    return { method: each.method, bytes: `${lines.join('\r\n')}\r\n\r\n${each.body}` };
  };
  const source = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 2, max: 254 })).map(([a, b, c]) => `127.${a}.${b}.${c}`);
  let compared = 0;
  await fc.assert(
    fc.asyncProperty(source, fc.array(request, { minLength: 1, maxLength: 5 }), async (from, requests) => {
      const sent = requests.map(bytesOf);
      const early = await exchange(node.running.http.port, configured.tls.httpCaPem, from, sent);
      const routed = await exchange(twin.port, configured.tls.httpCaPem, from, sent);
      compared += early.length;
      deepStrictEqual(early, routed);
    }),
    { numRuns: 80 },
  );
  t.ok(compared >= 80, `${compared} answers compared, each the same bytes`);
});

t.test('a cached password answers early only when sent alone: doubled it is 400, beside an admin token the token decides', async (t) => {
  const node = await inProcessNode(t, 'on');
  const tokenHeader = node.configured.settings.string('security.rbac.token_header')!;
  const password = basic('elastic', superPassword);
  const bogusToken = `snadm_${'A'.repeat(20)}.${'B'.repeat(43)}`;
  const get = (...headers: string[]) => ({ method: 'GET', bytes: `GET / HTTP/1.1\r\nHost: localhost\r\n${headers.map((header) => `${header}\r\n`).join('')}\r\n` });
  const answers = await exchange(node.running.http.port, node.configured.tls.httpCaPem, '127.0.0.7', [
    get(`Authorization: ${password}`),
    get(`Authorization: ${password}`),
    get(`Authorization: ${password}`, `Authorization: ${password}`),
    get(`authorization: ${password}`, `AUTHORIZATION: ${password}`),
    get(`Authorization: ${password}`, `${tokenHeader}: ${bogusToken}`),
    get(`Authorization: ${password}`, `${tokenHeader}: ${bogusToken}`, `${tokenHeader}: ${bogusToken}`),
    get(`Authorization: ${password}`),
  ]);
  t.same(answers.map((answer) => Number(answer.slice(9, 12))), [200, 200, 400, 400, 401, 200, 200], 'checked, cached, doubled, doubled in two cases, a token once, a token twice (anonymous: the password decides), cached again');
});

t.test('the early answers take fastify out of the request: no request id is spent on them', async (t) => {
  // Every request fastify routes takes the next request id; a failed login records its id in the audit log.
  const node = await inProcessNode(t, 'on');
  const twin = await routedTwin(t, node);
  const sequence = async (port: number) => {
    const ca = node.configured.tls.httpCaPem;
    const get = (authorization: string) => ({ method: 'GET', bytes: `GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${authorization}\r\n\r\n` });
    // A first request checks and caches the password; five more come from the cache; two failures bracket them.
    await exchange(port, ca, '127.0.0.9', [get(basic('elastic', superPassword))]);
    await exchange(port, ca, '127.0.0.9', [get(basic('nobody', 'x')), ...Array.from({ length: 5 }, () => get(basic('elastic', superPassword))), get(basic('nobody', 'y'))]);
  };
  const idsOf = (events: { event?: unknown; request_id?: unknown }[]) =>
    events.filter((each) => each.event === 'authentication_failed').slice(-2).map((each) => Number.parseInt(String(each.request_id).split('-').at(-1)!, 36));
  await sequence(node.running.http.port);
  await sequence(twin.port);
  const [earlyFirst, earlyLast] = idsOf(await node.auditLines());
  const [routedFirst, routedLast] = idsOf(twin.audited);
  t.equal(earlyLast! - earlyFirst!, 1, 'answered early: the five cached GET / took no request id');
  t.equal(routedLast! - routedFirst!, 6, 'routed: each took one');
});

t.test('a role or a user revoked stops the next request on a connection the early path has served', async (t) => {
  const node = await inProcessNode(t, 'on');
  const { store, configured } = node;
  await store.putRole({ id: 'root-reader', name: 'root-reader', endpoints: [{ endpoint: '/', actions: ['read'], negative: false }], entities: [] });
  await store.putUser({ username: 'reader', passwordHash: await hashPassword('early-password-1'), roles: ['root-reader'], enabled: true });
  const socket = connect({ host: '127.0.0.1', port: node.running.http.port, ca: configured.tls.httpCaPem, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  t.teardown(() => socket.destroy());
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const status = async (path: string) => {
    const before = text.length;
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basic('reader', 'early-password-1')}\r\n\r\n`);
    while (!/\r\n\r\n[\s\S]*\}/.test(text.slice(before))) await new Promise((resolve) => socket.once('data', resolve));
    return Number(/HTTP\/1\.1 (\d+)/.exec(text.slice(before))![1]);
  };
  t.equal(await status('/'), 200, 'the first: checked and cached');
  t.equal(await status('/'), 200, 'the second: answered early');
  await store.putRole({ id: 'root-reader', name: 'root-reader', endpoints: [{ endpoint: '/', actions: ['read'], negative: true }], entities: [] });
  t.equal(await status('/'), 403, 'the role now denies it: refused at once');
  await store.putRole({ id: 'root-reader', name: 'root-reader', endpoints: [{ endpoint: '/', actions: ['read'], negative: false }], entities: [] });
  t.equal(await status('/'), 200, 'allowed again');
  await store.putUser({ username: 'reader', passwordHash: await hashPassword('early-password-1'), roles: ['root-reader'], enabled: false });
  t.equal(await status('/'), 401, 'the user disabled: refused at once');
  t.equal(await status('/_security/_authenticate'), 401, 'on every early route');
});

t.test('EarlyAnswers answers only a GET of a registered literal path, for a caller its route permits, until the node closes', async (t) => {
  const principal = { user: { username: 'u', passwordHash: '', roles: [], enabled: true }, type: 'realm' } as Principal;
  let caller: Principal | undefined = principal;
  let permitted = true;
  const early = new EarlyAnswers(() => caller);
  for (const pattern of ['/_security/user/:name', '/*', '/a/../b', '/./', '/%2F', 'relative', '/a?b']) {
    t.throws(() => early.add(pattern, () => jsonAnswer('{}'), () => true), { message: /literal path/ }, `${pattern} refused`);
  }
  early.add('/', () => jsonAnswer('{"ok":true}'), (_principal, method, path) => permitted && method === 'GET' && path === '/');
  const written: unknown[] = [];
  const response = { writeHead: (...args: unknown[]) => written.push(args), end: (body: string) => written.push(body) } as unknown as ServerResponse;
  const ask = (method: string, url: string) => early.answer({ method, url } as IncomingMessage, response);
  t.equal(ask('HEAD', '/'), false, 'HEAD: routed');
  t.equal(ask('POST', '/'), false, 'POST: routed');
  t.equal(ask('GET', '/?x'), false, 'a query: routed');
  t.equal(ask('GET', '/other'), false, 'another path: routed');
  caller = undefined;
  t.equal(ask('GET', '/'), false, 'no cached caller: routed');
  caller = principal;
  permitted = false;
  t.equal(ask('GET', '/'), false, 'not permitted: routed (which refuses and audits)');
  permitted = true;
  t.same(written, [], 'nothing written for any of them');
  t.equal(ask('GET', '/'), true, 'answered');
  t.same(written, [[200, { 'content-type': 'application/json; charset=utf-8', 'content-length': '11' }], '{"ok":true}']);
  early.close();
  t.equal(ask('GET', '/'), false, 'closing: routed (fastify answers 503)');
});

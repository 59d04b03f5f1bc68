// Attack: requests no well-behaved client sends. Bodies of hostile depth,
// size, duplicate keys, invalid UTF-8 and every other shape get 400, never
// 500; two Authorization headers authenticate nobody; requests without a
// credential are not failed logins; weak TLS suites and renegotiation are
// refused on both ports.
import { request } from 'node:https';
import { connect } from 'node:tls';
import fc from 'fast-check';
import t from 'tap';
import { maxBodyDepth } from '../../src/node/body-limits.js';
import { curl, statusOf } from '../helpers/curl.js';
import { inProcessNode, superPassword } from '../helpers/in-process-node.js';
import { openssl } from '../helpers/openssl.js';

/** A request with a body sent as these exact bytes. */
function raw(port: number, ca: string, method: string, path: string, body: Buffer, auth: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    request(
      { host: '127.0.0.1', port, path, method, servername: 'localhost', ca, agent: false, headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}`, 'content-type': 'application/json', 'content-length': String(body.length) } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    )
      .on('error', reject)
      .end(body);
  });
}

t.test('hostile bodies: depth, size, duplicate keys, invalid UTF-8 and wrong shapes are 400 with the reason', async (t) => {
  const { call, admin, running, configured, store } = await inProcessNode(t, 'on');
  const send = (path: string, body: string | Buffer, method = 'PUT') => raw(running.http.port, configured.tls.httpCaPem, method, path, Buffer.from(body), admin);
  const deep = (levels: number) => `{"password":"deep-password-1","roles":[],"metadata":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`;
  for (const levels of [maxBodyDepth, 4_000, 6_000, 100_000]) {
    t.same(await send('/_security/user/deep', deep(levels)), { status: 400, body: JSON.stringify({ error: `invalid body: nested deeper than ${maxBodyDepth} levels` }) }, `metadata ${levels} deep`);
  }
  t.equal((await send('/_security/user/shallow', deep(maxBodyDepth - 2))).status, 200, 'metadata within the depth limit is taken');
  t.same(await send('/_security/user/big', JSON.stringify({ password: 'big-password-12', roles: [], metadata: { a: 'x'.repeat(20_000) } })), { status: 400, body: JSON.stringify({ error: "invalid field 'metadata': larger than 16 KiB as JSON" }) });
  t.same(await send('/_security/user/huge', `{"password":"huge-password-1","roles":[],"full_name":"${'x'.repeat(1_100_000)}"}`), { status: 400, body: JSON.stringify({ error: 'invalid body: larger than 1 MiB' }) });
  t.same(await send('/_security/user/dup', '{"password":"dup-password-12","roles":[],"roles":["superuser"]}'), { status: 400, body: JSON.stringify({ error: "invalid body: duplicate key 'roles'" }) });
  t.same(await send('/_security/user/dup', '{"password":"dup-password-12","roles":[],"rol\\u0065s":["superuser"]}'), { status: 400, body: JSON.stringify({ error: "invalid body: duplicate key 'roles'" }) }, 'an escaped duplicate is a duplicate');
  t.same(await send('/_security/user/utf', Buffer.concat([Buffer.from('{"password":"utf8-password-1\xff'.slice(0, 29)), Buffer.from([0xc3, 0x28]), Buffer.from('","roles":[]}')])), { status: 400, body: JSON.stringify({ error: 'invalid body: not valid UTF-8' }) });
  t.same(await send('/_security/api_key', '{"name":"k","role_descriptors":{"a":null}}', 'POST'), { status: 400, body: JSON.stringify({ error: "invalid field 'role_descriptors.a': must be object" }) });
  t.same(await send('/_security/user/c', '{"password":"comment-pass-1","roles":[]} // x'), { status: 400, body: JSON.stringify({ error: 'invalid body: not valid JSON' }) });
  t.notOk(store.getUser('dup') ?? store.getUser('deep') ?? store.getUser('utf') ?? store.getUser('big'), 'nothing refused was written');

  // Any JSON value, as any write's body: an answer below 500, always.
  const writes = [['PUT', '/_security/user/fuzz'], ['POST', '/_security/user/fuzz/_password'], ['PUT', '/_security/role/fuzz'], ['POST', '/_security/api_key'], ['DELETE', '/_security/api_key'], ['DELETE', '/_security/role/fuzz']] as const;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...writes), fc.jsonValue({ maxDepth: 6 }), async ([method, path], body) => {
      const answer = await call(method, path, admin, body);
      return answer.status < 500;
    }),
    { numRuns: 150 },
  );
});

t.test('two Authorization headers authenticate nobody', async (t) => {
  const { running, configured } = await inProcessNode(t, 'on');
  const ca = `${configured.paths.certsDir}/http_ca.crt`;
  const good = `Authorization: Basic ${Buffer.from(`elastic:${superPassword}`).toString('base64')}`;
  for (const headers of [[good, good], [good, 'Authorization: Basic d3Jvbmc6d3Jvbmc='], ['Authorization: Basic d3Jvbmc6d3Jvbmc=', good], [good, 'authorization: Bearer x'], [good.toLowerCase(), good.toLowerCase()], ['authorization: Bearer x', 'AUTHORIZATION: Bearer y']]) {
    const result = await curl(running.http.port, ca, headers.flatMap((header) => ['-H', header]), '/_security/_authenticate');
    t.equal(statusOf(result), '400', headers.join(' + '));
    t.match(result.stdout, '{"error":"more than one Authorization header; send one"}');
  }
  t.equal(statusOf(await curl(running.http.port, ca, ['-H', good], '/_security/_authenticate')), '200', 'one is enough');
});

t.test('requests without a credential are not failed logins: a probe never slows the operators', async (t) => {
  const { call, admin, auditLines } = await inProcessNode(t, 'on');
  for (let probe = 0; probe < 20; probe++) {
    const answer = await call('GET', '/', undefined, undefined, '127.0.0.1', probe % 2 ? { authorization: 'Negotiate xyz' } : {});
    t.equal(answer.status, 401, `probe ${probe}`);
  }
  const started = performance.now();
  t.equal((await call('GET', '/', admin)).status, 200);
  const took = performance.now() - started;
  // Had the probes counted, this login would have waited the throttle's full 5 s.
  t.ok(took < 2_500, `the login after 20 probes was not slowed (${Math.round(took)} ms)`);
  t.equal((await auditLines()).filter((line) => line.event === 'authentication_failed').length, 20, 'the probes are still audited');
});

t.test('Mozilla intermediate TLS on both ports: no weak TLS 1.2 suite, no renegotiation', async (t) => {
  // With an RSA node too (key_type rsa): its weak suites are refused by the profile, not by the key type.
  const rsaNode = await inProcessNode(t, 'on', { overrides: ['security.autoconfiguration.key_type=rsa'] });
  for (const [running, kind] of [[rsaNode.running, 'RSA'], [(await inProcessNode(t, 'on')).running, 'ECDSA']] as const) {
    for (const [port, name] of [[running.http.port, 'HTTP'], [running.transport.port, 'transport']] as const) {
      for (const cipher of ['AES128-SHA', 'AES256-GCM-SHA384', 'AES128-SHA256', `ECDHE-${kind}-AES128-SHA`, `ECDHE-${kind}-AES256-SHA384`, `ECDHE-${kind}-AES128-SHA256`, 'DHE-RSA-AES128-GCM-SHA256', `ECDHE-${kind}-AES256-SHA`]) {
        const result = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-cipher', cipher], '');
        t.not(result.exitCode, 0, `${kind} ${name}: ${cipher} is refused`);
        t.match(result.stdout + result.stderr, /handshake failure|no cipher|alert/i, `${kind} ${name}: ${cipher} fails in the handshake`);
      }
    }
    const strong = await openssl(['s_client', '-connect', `127.0.0.1:${running.http.port}`, '-tls1_2', '-cipher', `ECDHE-${kind}-AES128-GCM-SHA256`], '');
    t.match(strong.stdout, new RegExp(`Cipher is ECDHE-${kind}-AES128-GCM-SHA256`), `${kind}: an ECDHE AEAD suite is served`);
  }
  const { running, configured } = rsaNode;
  // A client-initiated renegotiation, from Node's own TLS client: refused by the server.
  const refused = await new Promise<Error | null>((resolve, reject) => {
    let connected = false;
    const socket = connect({ host: '127.0.0.1', port: running.http.port, servername: 'localhost', ca: configured.tls.httpCaPem, maxVersion: 'TLSv1.2' }, () => {
      connected = true;
      if (!socket.renegotiate({}, (error) => resolve(error ?? null))) reject(new Error('the client could not ask'));
    });
    socket.on('error', (error) => (connected ? resolve(error) : reject(error)));
  });
  t.match(refused?.message, /no renegotiation/, 'renegotiation is refused by the server');
});

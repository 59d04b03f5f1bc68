// Attack: percent-encode the path to step around a negative endpoint row.
// The router dispatches on the decoded path, so the matcher must decide on it
// too: any encoding of any character, in any segment, is decided exactly as
// its decoded form; a path that decodes to no single path is refused with 400.
import fc from 'fast-check';
import t from 'tap';
import { canonicalPath, decodeSegments } from '../../src/node/authorization.js';
import { inProcessNode } from '../helpers/in-process-node.js';

/** Every parameterized route, with a method and body that the attacker's role decides on. */
const routes = [
  { method: 'GET', path: (name: string) => `/_security/user/${name}` },
  { method: 'PUT', path: (name: string) => `/_security/user/${name}`, body: { roles: [] } },
  { method: 'POST', path: (name: string) => `/_security/user/${name}/_password`, body: { password: 'changed-password-1' } },
  { method: 'PUT', path: (name: string) => `/_security/user/${name}/_enable` },
  { method: 'PUT', path: (name: string) => `/_security/user/${name}/_disable` },
  { method: 'GET', path: (name: string) => `/_security/role/${name}`, role: true },
  { method: 'PUT', path: (name: string) => `/_security/role/${name}`, body: {}, role: true },
  // The other methods Elasticsearch's spec lists for the same routes.
  { method: 'POST', path: (name: string) => `/_security/user/${name}`, body: { roles: [] } },
  { method: 'PUT', path: (name: string) => `/_security/user/${name}/_password`, body: { password: 'changed-password-1' } },
  { method: 'POST', path: (name: string) => `/_security/user/${name}/_enable` },
  { method: 'POST', path: (name: string) => `/_security/user/${name}/_disable` },
  { method: 'POST', path: (name: string) => `/_security/role/${name}`, body: {}, role: true },
] as const;

const hex = (code: number, lower: boolean) => `%${code.toString(16).padStart(2, '0')}`[lower ? 'toLowerCase' : 'toUpperCase']();

/** The path with the characters at the chosen positions percent-encoded (UTF-8, upper or lower hex); '/' stays a separator. */
function encode(path: string, choices: readonly number[]): string {
  return [...path]
    .map((char, index) => {
      const choice = choices[index % choices.length]!;
      if (char === '/' || choice === 0) return char;
      return [...Buffer.from(char, 'utf8')].map((byte) => hex(byte, choice === 2)).join('');
    })
    .join('');
}

t.test('canonicalPath: decodes each segment; refuses what decodes to no single path', async (t) => {
  t.equal(canonicalPath('/_security/user/%65lastic/_password?x=1'), '/_security/user/elastic/_password');
  t.equal(canonicalPath('/%5Fsecurity/%75ser/el%C3%A9'), '/_security/user/elé');
  for (const bad of ['/_security/user/a%2Fb', '/_security/user/a%2fb', '/_security/user/%zz', '/_security/user/%C3', '/_security/user/x%00', '/_security/user/./x', '/_security/user/%2e%2e', '/_security/user/%2E']) {
    t.equal(canonicalPath(bad), undefined, bad);
  }
});

t.test('canonicalPath with its shortcut for plain paths decides as the segment by segment work does, for any text (fast-check)', async (t) => {
  const piece = fc.oneof(fc.constantFrom('/', '.', '..', '%', '%2e', '%2E', '%2f', '%00', '\u0000', '?', '%zz', '%C3', '%C3%A9', 'a', '_security'), fc.string({ maxLength: 3 }));
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }).map((pieces) => pieces.join('')), (url) => canonicalPath(url) === decodeSegments(url.split('?')[0]!)),
    { numRuns: 20_000 },
  );
  t.equal(canonicalPath('/plain/path?with=a.dot%2F'), '/plain/path', 'the query never counts');
});

t.test('canonicalPath keeps its last answer for the same URL only: any sequence decides as each URL alone does (fast-check)', async (t) => {
  // A few URLs, so that the same one often comes again, alone or after another that decodes to the same path.
  const url = fc.constantFrom('/', '/?a', '/_security/user/x', '/_security/user/%78', '/_security/user/x?', '/_security/user/%2e%2e', '/a/./b', '/a/b', '/%zz', '/a%2Fb', '');
  fc.assert(
    fc.property(fc.array(url, { minLength: 20, maxLength: 80 }), (urls) => urls.every((each) => canonicalPath(each) === decodeSegments(each.split('?')[0]!))),
    { numRuns: 2_000 },
  );
  t.equal(canonicalPath('/x%2Fy'), undefined);
  t.equal(canonicalPath('/x%2Fy'), undefined, 'a refused URL asked again is refused again');
  t.equal(canonicalPath('/x/y'), '/x/y');
});

t.test('negative rows hold against every encoding of every character, on every route with a parameter', async (t) => {
  const { call, admin } = await inProcessNode(t, 'on');
  await call('PUT', '/_security/user/victim', admin, { password: 'victim-password-1', roles: [] });
  await call('PUT', '/_security/user/other', admin, { password: 'other-password-1', roles: [] });
  await call('PUT', '/_security/role/guarded', admin, {});
  await call('PUT', '/_security/role/open', admin, {});
  await call('PUT', '/_security/role/everything-but', admin, {
    endpoints: [
      { endpoint: '*', actions: ['*'] },
      { endpoint: '/_security/user/victim', actions: ['*'], negative: true },
      { endpoint: '/_security/user/victim/*', actions: ['*'], negative: true },
      { endpoint: '/_security/role/guarded', actions: ['*'], negative: true },
    ],
    entities: [{ entity_id: '*', entity_type: 'wildcard', actions: ['*'] }],
  });
  await call('PUT', '/_security/user/mallory', admin, { password: 'mallory-password', roles: ['everything-but'] });
  const mallory = 'mallory:mallory-password';

  // What each route answers for the plain path: the guarded target refused, the other allowed.
  const plain = new Map<string, number>();
  for (const route of routes) {
    for (const guarded of [true, false]) {
      const name = 'role' in route ? (guarded ? 'guarded' : 'open') : guarded ? 'victim' : 'other';
      const path = route.path(name);
      plain.set(`${route.method} ${path}`, (await call(route.method, path, mallory, 'body' in route ? route.body : undefined)).status);
    }
  }
  t.same([...plain.values()].filter((status) => status === 403).length, routes.length, 'every guarded target is refused in plain form');
  t.same([...plain.values()].filter((status) => status === 200).length, routes.length, 'every other target is allowed in plain form');

  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes), fc.boolean(), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 40 }), async (route, guarded, choices) => {
      const name = 'role' in route ? (guarded ? 'guarded' : 'open') : guarded ? 'victim' : 'other';
      const path = route.path(name);
      const answer = await call(route.method, encode(path, choices), mallory, 'body' in route ? route.body : undefined);
      return answer.status === plain.get(`${route.method} ${path}`);
    }),
    { numRuns: 200 },
  );

  // An encoded '/', NUL or dot segment is refused before anything is decided.
  for (const path of ['/_security/user/victim%2F_password', '/_security/user/other/%2e%2e/victim/_password', '/_security/user/victim%00']) {
    const answer = await call('POST', path, mallory, { password: 'changed-password-1' });
    t.same([answer.status, answer.body], [400, { error: "invalid request path: a malformed percent-escape, an encoded '/' or NUL, or a '.' or '..' segment" }], path);
  }
  // The router itself refuses a malformed escape, before any hook.
  t.equal((await call('POST', '/_security/user/%zz/_password', mallory, { password: 'changed-password-1' })).status, 400, 'a malformed escape');
  t.equal((await call('GET', '/_security/_authenticate', 'victim:victim-password-1')).status, 200, "the victim's password was never changed");
});

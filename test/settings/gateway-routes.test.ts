// gateway.routes as an attacker (or a typo) would write them: no route may
// take the node's own paths, no accepted path decodes to another one, and no
// upstream carries credentials, a query or a fragment.
import fc from 'fast-check';
import t from 'tap';
import { canonicalPath } from '../../src/node/authorization.js';
import { checkRoutes } from '../../src/settings/gateway-routes.js';

const route = (fields: Record<string, unknown>) => checkRoutes([{ name: 'app', path: '/app', upstream: 'http://127.0.0.1:3000', ...fields }]);

t.test('an accepted path is a prefix of its own: not the node\'s, never decoded into another', async (t) => {
  const characters = fc.constantFrom(...'/_.%2Fa-Z~:@!$&\'()*+,;= é\u0000?#'.split(''));
  fc.assert(
    fc.property(fc.array(characters, { maxLength: 16 }).map((parts) => `/${parts.join('')}`), (path) => {
      const checked = route({ path });
      if (!checked.ok) return true;
      return path !== '/' && !path.startsWith('/_') && !path.includes('%') && !path.endsWith('/') && canonicalPath(path) === path && !path.split('/').slice(1).some((segment) => segment === '.' || segment === '..' || segment === '');
    }),
    { numRuns: 2000 },
  );
  t.ok(route({ path: '/app/v1' }).ok);
  for (const path of ['/', '/_security', '/_console/x', '/app/', '/a/../_security', '/a/./b', '/%5Fsecurity', '/a//b', 'app']) t.notOk(route({ path }).ok, path);
});

t.test('an upstream is an http(s) URL without user, query or fragment', async (t) => {
  for (const upstream of ['http://u:p@127.0.0.1:1', 'http://127.0.0.1:1/?x=1', 'http://127.0.0.1:1/#f', 'file:///etc/passwd', 'ftp://x', 'javascript:alert(1)', '//127.0.0.1:1', 'not a url']) {
    t.notOk(route({ upstream }).ok, upstream);
  }
  t.ok(route({ upstream: 'https://app.internal:8443/base' }).ok);
  t.same(route({ upstream: 'http://127.0.0.1:1', ca: 'x.crt' }), { ok: false, reason: "route 'app': ca is for an https:// upstream" });
  t.same(checkRoutes([{ name: 'a', path: '/a', upstream: 'http://x' }, { name: 'a', path: '/b', upstream: 'http://x' }]), { ok: false, reason: "routes 'a' and 'a' have the same name" });
  t.same(route({ timeout: '0s' }), { ok: false, reason: "route 'app': timeout must be a duration such as 30s or 5m (at most 1d)" });
  t.same(route({ strip: true }), { ok: false, reason: "route 1 has an unknown field 'strip' (did you mean 'strip_path'?)" });
});

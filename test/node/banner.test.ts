import t from 'tap';
import { isTerminal, renderBanner, terminalStyle, type BannerContent } from '../../src/node/banner.js';

const content: BannerContent = { password: { kind: 'generated', value: 'Abc*-_=+0123456789xy' }, fingerprint: 'ab'.repeat(32), caPath: '/h/config/certs/http_ca.crt', configFile: '/h/config/securenode.yml', port: 9200, home: '/h' };

t.test('a terminal is a TTY with a width above zero', async (t) => {
  t.equal(isTerminal({ isTTY: true, columns: 80 }), true);
  t.equal(isTerminal({ isTTY: true, columns: 0 }), false, 'a 0-column terminal (Docker without -t, some CI) is no terminal: ora would loop forever');
  t.equal(isTerminal({ isTTY: true }), false);
  t.equal(isTerminal({ isTTY: false, columns: 80 }), false);
  t.equal(isTerminal({}), false);
});

t.test('style: UTF-8 from the locale, colour unless NO_COLOR', async (t) => {
  t.same(terminalStyle({ columns: 120 }, { LANG: 'en_US.UTF-8' }), { columns: 120, utf8: true, color: true });
  t.same(terminalStyle({ columns: 120 }, { LC_ALL: 'C', LANG: 'en_US.UTF-8' }), { columns: 120, utf8: false, color: true }, 'LC_ALL wins');
  t.same(terminalStyle({}, { LANG: 'C.utf8', NO_COLOR: '1' }), { columns: 80, utf8: true, color: false });
});

t.test('UTF-8 with colour: label lines, values alone and indented two spaces, rules as wide as the terminal', async (t) => {
  const banner = renderBanner(content, { columns: 50, utf8: true, color: true });
  const lines = banner.split('\n');
  t.equal(lines.filter((line) => line === '━'.repeat(50)).length, 2);
  const label = lines.findIndex((line) => line.includes('Password for the elastic user (reset with `npx securenode reset-password -u elastic --home /h`):'));
  t.equal(lines[label + 1], '  Abc*-_=+0123456789xy');
  t.match(lines[label], /^ℹ️ {2}\u001b\[1mPassword/);
  const fingerprint = lines.findIndex((line) => line.includes('HTTP CA certificate SHA-256 fingerprint:'));
  t.equal(lines[fingerprint + 1], `  ${content.fingerprint}`);
  t.match(banner, '  curl --cacert /h/config/certs/http_ca.crt -u elastic https://localhost:9200/\n');
  t.match(banner, /^\n\n\n\n━/, 'four blank lines before');
});

t.test('ASCII without colour: no escape sequences, no multibyte symbols', async (t) => {
  const banner = renderBanner(content, { columns: 30, utf8: false, color: false });
  t.notMatch(banner, /\u001b/);
  t.notMatch(banner, /[^\x00-\x7f]/);
  t.match(banner, `${'-'.repeat(30)}\n-> securenode security features have been automatically configured!\n`);
  t.match(banner, '-> Password for the elastic user (reset with `npx securenode reset-password -u elastic --home /h`):\n  Abc*-_=+0123456789xy\n');
});

t.test('a password the operator gave is named by its source, never shown', async (t) => {
  const banner = renderBanner({ ...content, password: { kind: 'given', source: 'ELASTIC_PASSWORD' } }, { columns: 30, utf8: false, color: false });
  t.match(banner, '-> The elastic user has the password given in ELASTIC_PASSWORD (not shown).\n');
  t.notMatch(banner, 'Abc*-_=+0123456789xy');
});

t.test('the client enrollment token item: label, token alone, then the command', async (t) => {
  const banner = renderBanner({ ...content, client: 'eyJ0b2tlbiI6MX0=' }, { columns: 30, utf8: false, color: false });
  t.match(banner, '  ' + 'ab'.repeat(32) + '\n\n-> Client enrollment token (valid for the next 30 minutes):\n  eyJ0b2tlbiI6MX0=\n  A client enrolls with: npx securenode enroll --enrollment-token <token> --out ./client\n\n-> Connect');
  t.match(renderBanner(content, { columns: 30, utf8: false, color: false }), '  ' + 'ab'.repeat(32) + '\n\n-> Connect', 'without a token, one blank line');
});

t.test('the node item: a token when the node is reachable, else the steps to enroll nodes later', async (t) => {
  const ascii = { columns: 30, utf8: false, color: false };
  const withToken = renderBanner({ ...content, client: 'Y2xpZW50', node: { kind: 'token', token: 'bm9kZQ==' } }, ascii);
  t.match(
    withToken,
    'A client enrolls with: npx securenode enroll --enrollment-token <token> --out ./client\n\n-> Node enrollment token, for other nodes to join this cluster (valid for the next 30 minutes):\n  bm9kZQ==\n  On the new node: npx securenode start --enrollment-token <token>\n\n-> Connect',
  );
  const steps = renderBanner({ ...content, client: 'Y2xpZW50', node: { kind: 'steps' } }, ascii);
  t.match(
    steps,
    [
      '-> Configure other nodes to join this cluster:',
      '* On this node:',
      '  - Create an enrollment token with `npx securenode create-enrollment-token -s node --home /h`.',
      '  - Uncomment the transport.host setting at the end of /h/config/securenode.yml.',
      '  - Restart securenode.',
      '* On other nodes:',
      '  - Start securenode with `npx securenode start --enrollment-token <token>`, using the enrollment token that you generated.',
      '',
      '-> Connect',
    ].join('\n'),
  );
  t.match(renderBanner({ ...content, node: { kind: 'steps' } }, { columns: 30, utf8: true, color: false }), '\u2022 On this node:\n  \u2043 Create', 'UTF-8 bullets');
});

import t from 'tap';
import { parseConfigText } from '../../src/settings/config-file.js';
import { appendConfigBlock, beginMarker, blockSettings, endMarker, hasConfigBlock, removeConfigBlock, renderConfigBlock, type BlockInput } from '../../src/autoconfig/config-block.js';

const input: BlockInput = { nodeName: 'node-1', generatedAt: new Date('2026-11-23T08:09:10.123Z'), enrollmentDisabled: false, cluster: { kind: 'new' }, hostConfigured: false };

t.test('the block has the exact markers, the UTC time, a comment above every setting', async (t) => {
  const block = renderConfigBlock(input);
  const lines = block.split('\n');
  t.equal(lines[0], beginMarker);
  t.equal(lines.at(-2), endMarker);
  t.equal(beginMarker, '#----------------------- BEGIN SECURITY AUTO CONFIGURATION -----------------------');
  t.equal(endMarker, '#----------------------- END SECURITY AUTO CONFIGURATION -------------------------');
  t.match(block, '# generated to configure securenode security features on 2026-11-23 08:09:10 UTC\n');
  for (const [index, line] of lines.entries()) {
    if (/^[a-z#]/.test(line) && /^#?[a-z_.]+:/.test(line) && !line.startsWith('#-')) t.match(lines[index - 1], /^# /, `a comment above ${line}`);
  }
  t.same(
    Object.fromEntries(parseConfigText(block, 'block').map(({ key, value }) => [key, value])),
    {
      'security.enabled': true,
      'security.enrollment.enabled': true,
      'security.http.ssl.enabled': true,
      'security.http.ssl.keystore.path': 'certs/http.p12',
      'security.transport.ssl.enabled': true,
      'security.transport.ssl.verification_mode': 'certificate',
      'security.transport.ssl.keystore.path': 'certs/transport.p12',
      'security.transport.ssl.truststore.path': 'certs/transport.p12',
      'cluster.initial_master_nodes': ['node-1'],
      'http.host': '0.0.0.0',
    },
  );
  t.match(block, '\n#transport.host: 0.0.0.0\n', 'transport.host is a commented hint');
});

t.test('conditional lines', async (t) => {
  const joined = renderConfigBlock({ ...input, enrollmentDisabled: true, hostConfigured: true, cluster: { kind: 'join', seedHosts: ['10.0.0.1:9300'] } });
  const keys = parseConfigText(joined, 'b').map(({ key }) => key);
  t.notOk(keys.includes('security.enrollment.enabled'));
  t.notOk(keys.includes('http.host'));
  t.notOk(keys.includes('cluster.initial_master_nodes'));
  t.match(joined, 'discovery.seed_hosts: [10.0.0.1:9300]\n');
  t.match(joined, '\ntransport.host: 0.0.0.0\n', 'a cluster beyond loopback: transport.host is live');
  t.notOk(keys.includes('cluster.name'), 'no cluster name given: none written');
  const named = renderConfigBlock({ ...input, cluster: { kind: 'join', seedHosts: ['127.0.0.1:9300', '[::1]:9300'], clusterName: 'prod' } });
  t.match(named, '# The name of the cluster this node joined\ncluster.name: prod\n');
  t.match(named, '\n#transport.host: 0.0.0.0\n', 'a cluster on loopback: transport.host stays a hint');
});

t.test('appending keeps every byte of the user file; removing gives it back', async (t) => {
  const user = '# my comment\ncluster.name: prod   # trailing\n\n\nnode:\n  name: n1\n';
  const block = renderConfigBlock(input);
  const written = appendConfigBlock(user, block);
  t.equal(written.slice(0, user.length), user);
  t.equal(hasConfigBlock(written), true);
  t.equal(hasConfigBlock(user), false);
  t.equal(removeConfigBlock(written), user.replace(/\n+$/, '\n'));
  t.equal(appendConfigBlock('no newline', block), `no newline\n\n${block}`);
  t.equal(appendConfigBlock('', block), block);
  t.equal(removeConfigBlock(user), user, 'no block, no change');
});

t.test('removal keeps settings the user added inside the block', async (t) => {
  const written = appendConfigBlock('a.b: 1\n', renderConfigBlock(input)).replace('http.host: 0.0.0.0\n', 'http.host: 0.0.0.0\nnode.name: mine\n');
  t.equal(removeConfigBlock(written), 'a.b: 1\nnode.name: mine\n');
  t.same(blockSettings.map((setting) => setting.key), [
    'security.enabled', 'security.enrollment.enabled', 'security.http.ssl', 'security.transport.ssl',
    'cluster.initial_master_nodes', 'cluster.name', 'discovery.seed_hosts', 'http.host', 'transport.host',
  ]);
});

import t from 'tap';
import { loadSettings, mergeSettings } from '../../src/settings/load.js';
import type { FileSetting } from '../../src/settings/config-file.js';
import { hostname } from 'node:os';

const file = (entries: Record<string, unknown>): FileSetting[] => Object.entries(entries).map(([key, value], index) => ({ key, value, line: index + 1 }));

t.test('defaults apply to unset keys and only explicit keys count as set', async (t) => {
  const settings = mergeSettings('c.yml', [], {}, []);
  t.equal(settings.number('http.port'), 9200);
  t.equal(settings.string('cluster.name'), 'securenode');
  t.equal(settings.string('node.name'), hostname());
  t.same(settings.list('node.roles'), ['master', 'data']);
  t.equal(settings.bool('security.autoconfiguration.enabled'), true);
  t.equal(settings.isSet('http.port'), false);
  t.same(settings.explicitKeys(), []);
  t.same(settings.list('discovery.seed_hosts'), []);
  t.equal(settings.get('security.enabled'), undefined);
  t.throws(() => settings.get('no.such.key'), TypeError);
});

t.test('environment overrides the file, -E overrides both, and origins are kept', async (t) => {
  const settings = mergeSettings(
    'c.yml',
    file({ 'http.port': 9201, 'cluster.name': 'from-file', 'node.name': 'n1' }),
    { SECURENODE_HTTP_PORT: '9202', SECURENODE_CLUSTER_NAME: 'from-env', PATH: '/bin', SECURENODE_HOME: '/x', SECURENODE_KEYSTORE_PASSWORD: 'p' },
    ['http.port=9203', 'security.authc.cache.ttl=5m'],
  );
  t.equal(settings.number('http.port'), 9203);
  t.equal(settings.origin('http.port'), 'command line');
  t.equal(settings.string('cluster.name'), 'from-env');
  t.equal(settings.origin('cluster.name'), 'environment');
  t.equal(settings.origin('node.name'), 'file');
  t.equal(settings.string('security.authc.cache.ttl'), '5m');
  t.same(settings.explicitKeys(), ['cluster.name', 'http.port', 'node.name', 'security.authc.cache.ttl']);
});

t.test('strings from the environment and -E are typed by the schema', async (t) => {
  const settings = mergeSettings('c.yml', [], {
    SECURENODE_SECURITY_ENABLED: 'false',
    SECURENODE_DISCOVERY_SEED_HOSTS: 'a:9300, b:9300',
    SECURENODE_CLUSTER_INITIAL_MASTER_NODES: '["n1", "n2"]',
    SECURENODE_SECURITY_AUTOCONFIGURATION_LEAF_KEY_SIZE: '4096',
  }, ['node.roles=[master]']);
  t.equal(settings.bool('security.enabled'), false);
  t.same(settings.list('discovery.seed_hosts'), ['a:9300', 'b:9300']);
  t.same(settings.list('cluster.initial_master_nodes'), ['n1', 'n2']);
  t.same(settings.list('node.roles'), ['master']);
  t.equal(settings.number('security.autoconfiguration.leaf_key_size'), 4096);
  t.equal(settings.isAnySetUnder('security'), true);
  t.equal(settings.isAnySetUnder('security.http.ssl'), false);
});

t.test('vault references are kept as written in string settings', async (t) => {
  const settings = mergeSettings('c.yml', file({ 'security.store.postgres.password': '{vault://env/pg-password}' }), {}, []);
  t.equal(settings.string('security.store.postgres.password'), '{vault://env/pg-password}');
});

t.test('an unknown key names itself, where it came from, and the nearest known key', async (t) => {
  t.throws(() => mergeSettings('/h/securenode.yml', file({ 'htp.port': 1 }), {}, []), {
    code: 'ERR_CONFIG_UNKNOWN_KEY',
    message: "/h/securenode.yml:1: unknown setting 'htp.port'; did you mean 'http.port'? (securenode --help-settings lists every setting)",
  });
  t.throws(() => mergeSettings('c.yml', [], { SECURENODE_CLUSTER_NAMES: 'x' }, []), {
    code: 'ERR_CONFIG_UNKNOWN_KEY',
    message: 'environment variable SECURENODE_CLUSTER_NAMES: unknown setting; did you mean SECURENODE_CLUSTER_NAME? (securenode --help-settings lists every setting)',
  });
  t.throws(() => mergeSettings('c.yml', [], {}, ['security.enrolment.enabled=true']), {
    code: 'ERR_CONFIG_UNKNOWN_KEY',
    message: "-E security.enrolment.enabled: unknown setting 'security.enrolment.enabled'; did you mean 'security.enrollment.enabled'? (securenode --help-settings lists every setting)",
  });
});

t.test('an invalid value says what was expected', async (t) => {
  const cases: [string, unknown, string][] = [
    ['http.port', 70000, 'a whole number from 0 to 65535'],
    ['http.port', 'abc', 'a whole number from 0 to 65535'],
    ['security.enabled', 'yes', 'true or false'],
    ['security.rbac.enforce', 'sometimes', 'one of on, entity, both, off'],
    ['security.authc.cache.ttl', '20 minutes', 'a duration such as 30s, 20m, 1h or 7d'],
    ['node.roles', ['master', 'ingest'], 'a list of master, data, voting_only'],
    ['discovery.seed_hosts', { a: 1 }, 'a list'],
    ['discovery.seed_hosts', [{ a: 1 }], 'a list of strings'],
    ['node.name', ['a'], 'a string'],
    ['security.autoconfiguration.leaf_key_size', 1024, 'a whole number from 2048 to 4096'],
  ];
  for (const [key, value, expected] of cases) {
    t.throws(() => mergeSettings('c.yml', file({ [key]: value }), {}, []), {
      code: 'ERR_CONFIG_INVALID_VALUE',
      message: `c.yml:1: invalid value ${JSON.stringify(value)} for setting '${key}': expected ${expected}`,
    }, key);
  }
});

t.test('an -E option without = is a usage error', async (t) => {
  t.throws(() => mergeSettings('c.yml', [], {}, ['http.port']), {
    code: 'ERR_USAGE',
    message: '-E http.port: expected key=value, e.g. -E http.port=9201',
  });
});

t.test('loadSettings reads the file and the environment', async (t) => {
  const dir = t.testdir({ 'securenode.yml': 'cluster:\n  name: c1\n' });
  const settings = await loadSettings({ configFile: `${dir}/securenode.yml`, env: { SECURENODE_NODE_NAME: 'n9' }, overrides: ['http.port=0'] });
  t.equal(settings.string('cluster.name'), 'c1');
  t.equal(settings.string('node.name'), 'n9');
  t.equal(settings.number('http.port'), 0);
});

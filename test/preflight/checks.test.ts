import t from 'tap';
import { firstFinding, isInitialClusterNode, type PreflightFacts } from '../../src/preflight/checks.js';
import { settingsOf } from '../helpers/settings.js';

const base = (overrides: Partial<PreflightFacts> = {}, settings: Record<string, unknown> = {}): PreflightFacts => ({
  configFile: { path: '/h/config/securenode.yml', kind: 'regular', readable: true },
  keystore: { path: '/h/config/securenode.keystore', kind: 'missing', readable: false },
  settings: settingsOf(settings),
  configDirProbe: { kind: 'created', configDir: '/h/config', dirOwner: 1000, newOwner: 1000 },
  keystoreTlsPasswords: [],
  ...overrides,
});

t.test('a new node passes every check', async (t) => {
  t.equal(firstFinding(base()), undefined);
  t.equal(firstFinding(base({ keystore: { path: '/k', kind: 'regular', readable: true } })), undefined, 'a readable keystore is fine');
});

t.test('every check gives its reason and exit code', async (t) => {
  const cases: [string, PreflightFacts, number, 73 | 78 | 80, string][] = [
    ['data path not empty', base({ nonEmptyDataPath: '/h/data' }), 1, 80, 'the data path /h/data is not empty: it appears that the node is not starting up for the first time'],
    ['yml missing', base({ configFile: { path: '/h/c.yml', kind: 'missing', readable: false } }), 2, 78, 'the configuration file /h/c.yml is missing or is not a regular file (a symbolic link counts as not regular)'],
    ['yml a symlink', base({ configFile: { path: '/h/c.yml', kind: 'other', readable: true } }), 2, 78, 'the configuration file /h/c.yml is missing or is not a regular file (a symbolic link counts as not regular)'],
    ['yml unreadable', base({ configFile: { path: '/h/c.yml', kind: 'regular', readable: false } }), 3, 80, 'the current user does not have permission to read the configuration file /h/c.yml'],
    ['keystore not regular', base({ keystore: { path: '/h/k', kind: 'other', readable: true } }), 4, 80, 'the node keystore file /h/k is not a readable regular file'],
    ['keystore unreadable', base({ keystore: { path: '/h/k', kind: 'regular', readable: false } }), 4, 80, 'the node keystore file /h/k is not a readable regular file'],
    ['autoconfiguration off', base({}, { 'security.autoconfiguration.enabled': false }), 5, 80, 'security.autoconfiguration.enabled is false'],
    ['security.enabled true', base({}, { 'security.enabled': true }), 6, 80, 'security.enabled is set (to true): it appears that security is already configured'],
    ['security.enabled false', base({}, { 'security.enabled': false }), 6, 80, 'security.enabled is set (to false): it appears that security is already configured'],
    ['http TLS set', base({}, { 'security.http.ssl.enabled': false }), 7, 80, 'security.http.ssl.enabled is set: it appears that TLS is already configured'],
    ['transport TLS set', base({}, { 'security.transport.ssl.verification_mode': 'full' }), 7, 80, 'security.transport.ssl.verification_mode is set: it appears that TLS is already configured'],
    ['seed hosts', base({}, { 'discovery.seed_hosts': ['a:9300'] }), 8, 80, 'discovery.seed_hosts is set: this node is configured to bootstrap or to join a multi-node cluster, which auto-configuration does not support'],
    ['seed providers', base({}, { 'discovery.seed_providers': ['file'] }), 8, 80, 'discovery.seed_providers is set: this node is configured to bootstrap or to join a multi-node cluster, which auto-configuration does not support'],
    ['other initial masters', base({}, { 'node.name': 'a', 'cluster.initial_master_nodes': ['a', 'b'] }), 8, 80, 'cluster.initial_master_nodes is set: this node is configured to bootstrap or to join a multi-node cluster, which auto-configuration does not support'],
    ['no master role', base({}, { 'node.roles': ['data'] }), 9, 80, 'node.roles is [data]: the node cannot become master'],
    ['voting only', base({}, { 'node.roles': ['master', 'data', 'voting_only'] }), 9, 80, 'node.roles is [master, data, voting_only]: the node cannot become master'],
    ['no data role', base({}, { 'node.roles': ['master'] }), 10, 80, 'node.roles is [master]: the node cannot contain data'],
    ['config dir not writable', base({ configDirProbe: { kind: 'failed', configDir: '/h/config', reason: 'could not create a directory in it (EACCES)' } }), 11, 73, 'the config dir /h/config is not writable: could not create a directory in it (EACCES)'],
    ['owner mismatch', base({ configDirProbe: { kind: 'created', configDir: '/h/config', dirOwner: 1000, newOwner: 0 } }), 11, 78, 'of a config dir ownership mismatch: /h/config is owned by uid 1000, but files written now would be owned by uid 0; run securenode as the owner of the config dir'],
    ['keystore TLS passwords', base({ keystoreTlsPasswords: ['security.http.ssl.keystore.secure_password'] }), 12, 78, "the node keystore /h/config/securenode.keystore already holds TLS password settings (security.http.ssl.keystore.secure_password); remove them with `npx securenode keystore remove NAME --home /h`, or set security.enabled and configure TLS yourself"],
  ];
  for (const [name, facts, check, exitCode, reason] of cases) t.same(firstFinding(facts), { check, exitCode, reason }, name);
});

t.test('the first check that holds decides', async (t) => {
  const facts = base({ nonEmptyDataPath: '/d', keystoreTlsPasswords: ['x'] }, { 'security.enabled': true });
  t.equal(firstFinding(facts)?.check, 1);
  t.equal(firstFinding({ ...facts, nonEmptyDataPath: undefined } as PreflightFacts)?.check, 6);
});

t.test('checks 11 and 12 wait for their facts', async (t) => {
  const { configDirProbe: _probe, keystoreTlsPasswords: _names, ...early } = base();
  t.equal(firstFinding(early), undefined);
});

t.test('initial cluster node', async (t) => {
  t.equal(isInitialClusterNode(settingsOf({})), true);
  t.equal(isInitialClusterNode(settingsOf({ 'discovery.type': 'single-node', 'discovery.seed_hosts': ['a:1'] })), true, 'single-node wins');
  t.equal(isInitialClusterNode(settingsOf({ 'node.name': 'me', 'cluster.initial_master_nodes': ['me'] })), true, 'only itself');
  t.equal(isInitialClusterNode(settingsOf({ 'node.name': 'me', 'cluster.initial_master_nodes': ['me'], 'discovery.seed_hosts': ['a:1'] })), false);
  t.equal(isInitialClusterNode(settingsOf({ 'node.name': 'me', 'cluster.initial_master_nodes': ['other'] })), false);
});

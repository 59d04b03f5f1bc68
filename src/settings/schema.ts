import { hostname } from 'node:os';

/** The type of a setting's value, which decides how a string from the environment or -E is read. */
export type SettingType =
  | { kind: 'string' }
  | { kind: 'bool' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'list'; values?: readonly string[] }
  | { kind: 'duration' }
  | { kind: 'routes' };

/** One gateway route as written: name, path, upstream and its options (validated by gatewayRoutes). */
export type RouteRecord = Readonly<Record<string, string | number | boolean>>;

/** A value as it is kept once validated. */
export type SettingValue = string | number | boolean | string[] | RouteRecord[];

/** One declared setting: every key is declared once, here. */
export interface SettingDefinition {
  readonly key: string;
  readonly type: SettingType;
  readonly default?: SettingValue | (() => SettingValue);
  readonly description: string;
}

const string = { kind: 'string' } as const;
const bool = { kind: 'bool' } as const;
const port = { kind: 'int', min: 0, max: 65535 } as const;
const list = { kind: 'list' } as const;
const duration = { kind: 'duration' } as const;
const oneOf = (...values: string[]): SettingType => ({ kind: 'enum', values });

function sslSettings(layer: 'http' | 'transport'): SettingDefinition[] {
  const prefix = `security.${layer}.ssl`;
  return [
    { key: `${prefix}.enabled`, type: bool, description: `Encrypt ${layer} connections with TLS.` },
    { key: `${prefix}.keystore.path`, type: string, description: `PKCS#12 file holding the ${layer} key and certificate, relative to the config dir.` },
    { key: `${prefix}.truststore.path`, type: string, description: `PKCS#12 file holding the CA certificates that ${layer} peers are checked against.` },
    { key: `${prefix}.verification_mode`, type: oneOf('full', 'certificate', 'none'), description: 'How peers are verified: full (chain and host name), certificate (chain only) or none.' },
    { key: `${prefix}.certificate`, type: string, description: `PEM certificate for ${layer}, as an alternative to a keystore.` },
    { key: `${prefix}.key`, type: string, description: `PEM private key for ${layer}, as an alternative to a keystore.` },
    { key: `${prefix}.certificate_authorities`, type: list, description: `PEM CA certificates trusted for ${layer}.` },
  ];
}

/** Every setting securenode knows, with its type, default and a one-line description. */
export const settingDefinitions: readonly SettingDefinition[] = [
  { key: 'node.name', type: string, default: () => hostname(), description: 'Name of this node; defaults to the host name.' },
  { key: 'node.roles', type: { kind: 'list', values: ['master', 'data', 'voting_only'] }, default: ['master', 'data'], description: 'Roles of this node: master, data, voting_only.' },
  { key: 'node.user', type: string, description: 'Unprivileged user that a node started as root switches to after binding its ports.' },
  { key: 'node.group', type: string, description: 'Group that a node started as root switches to; key files become readable by it (0640).' },
  { key: 'cluster.name', type: string, default: 'securenode', description: 'Name of the cluster; every node of a cluster has the same.' },
  { key: 'cluster.initial_master_nodes', type: list, description: 'Names of the master-eligible nodes that bootstrap a new cluster.' },
  { key: 'discovery.type', type: oneOf('multi-node', 'single-node'), default: 'multi-node', description: 'single-node forms a cluster of this node alone.' },
  { key: 'discovery.seed_hosts', type: list, description: 'Transport addresses (host:port) of existing nodes to join.' },
  { key: 'discovery.seed_providers', type: list, description: 'Sources of further seed hosts.' },
  { key: 'network.host', type: string, description: 'Address to bind and publish, for HTTP and transport alike.' },
  { key: 'network.bind_host', type: string, description: 'Address to bind, for HTTP and transport alike.' },
  { key: 'network.publish_host', type: string, description: 'Address other nodes and clients use to reach this node; added to the HTTP certificate.' },
  { key: 'http.host', type: string, description: 'Address the HTTPS API binds and publishes.' },
  { key: 'http.bind_host', type: string, description: 'Address the HTTPS API binds.' },
  { key: 'http.publish_host', type: string, description: 'Address clients use to reach the HTTPS API; added to the HTTP certificate.' },
  { key: 'http.port', type: port, default: 9200, description: 'Port of the HTTPS API (0 picks a free port).' },
  { key: 'http.publish_port', type: port, description: 'Port clients use to reach the HTTPS API, when it differs from http.port.' },
  { key: 'transport.host', type: string, description: 'Address the node-to-node transport binds and publishes.' },
  { key: 'transport.port', type: port, default: 9300, description: 'Port of the mutual-TLS transport (0 picks a free port).' },
  { key: 'path.data', type: string, description: 'Data directory; defaults to <home>/data.' },
  { key: 'path.logs', type: string, description: 'Log directory; defaults to <home>/logs.' },
  { key: 'security.enabled', type: bool, description: 'Whether security is on; setting it at all turns auto-configuration off.' },
  { key: 'security.autoconfiguration.enabled', type: bool, default: true, description: 'Whether the first start configures TLS and the superuser.' },
  { key: 'security.autoconfiguration.key_type', type: oneOf('ec', 'rsa'), default: 'ec', description: 'Keys of the generated CAs and certificates: ec (ECDSA P-256, fast to make and to handshake) or rsa (4096-bit CAs, leaf_key_size leaves) for clients that need RSA.' },
  { key: 'security.autoconfiguration.leaf_key_size', type: { kind: 'int', min: 2048, max: 4096 }, default: 2048, description: 'RSA key size of generated leaf certificates (key_type rsa): 2048, 3072 or 4096.' },
  { key: 'security.certs.warn_before', type: duration, default: '30d', description: 'A certificate this close to its end is reported: `securenode certs status` exits 1, /_cluster/health lists it, and the node logs a warning twice a day.' },
  { key: 'security.certs.auto_renew', type: bool, default: true, description: "The node renews its own HTTP certificate from its HTTP CA when less than a third of the certificate's life is left." },
  { key: 'security.certs.reload_interval', type: duration, default: '5s', description: 'How often the node looks at http.p12, to take a renewed certificate without a restart.' },
  { key: 'security.enrollment.enabled', type: bool, default: false, description: 'Whether enrollment tokens may be created and used.' },
  ...sslSettings('http'),
  ...sslSettings('transport'),
  { key: 'gateway.routes', type: { kind: 'routes' }, description: "Services the node puts behind its authentication and RBAC: a list of {name, path, upstream, strip_path, timeout, ca}; a request under path is proxied to upstream when the caller's roles allow it on that path." },
  { key: 'console.enabled', type: bool, default: true, description: 'Whether the node serves its web console under /_console/ on the HTTPS port.' },
  { key: 'console.session.idle_timeout', type: duration, default: '15m', description: 'A console session unused this long ends (Kong\'s session plugin default).' },
  { key: 'console.session.absolute_timeout', type: duration, default: '24h', description: 'A console session ends this long after its login, used or not.' },
  { key: 'security.rbac.token_header', type: string, default: 'Securenode-Admin-Token', description: 'The request header that carries an admin token (POST /_security/user/{name}/_token); Kong-Admin-Token for Kong\'s clients.' },
  { key: 'security.rbac.enforce', type: oneOf('on', 'entity', 'both', 'off'), default: 'on', description: 'RBAC on the REST API: on (endpoints), entity, both, or off (authentication only).' },
  { key: 'security.store.type', type: oneOf('file', 'postgres'), default: 'file', description: 'Where users, roles and keys are kept: the embedded file store or PostgreSQL.' },
  { key: 'security.store.postgres.host', type: string, default: 'localhost', description: 'PostgreSQL host, or the directory of its Unix socket.' },
  { key: 'security.store.postgres.port', type: port, default: 5432, description: 'PostgreSQL port.' },
  { key: 'security.store.postgres.database', type: string, default: 'securenode', description: 'PostgreSQL database.' },
  { key: 'security.store.postgres.user', type: string, default: 'securenode', description: 'PostgreSQL user.' },
  { key: 'security.store.postgres.password', type: string, description: 'PostgreSQL password; usually a {vault://...} reference.' },
  { key: 'security.store.postgres.ssl', type: bool, default: false, description: "Connect to PostgreSQL over TLS, checking the server's certificate and name against the system CAs (and NODE_EXTRA_CA_CERTS)." },
  { key: 'security.authc.password_hashing.algorithm', type: oneOf('argon2id'), default: 'argon2id', description: 'Password hash algorithm.' },
  { key: 'security.authc.cache.ttl', type: duration, default: '20m', description: 'How long a successful password check is cached in memory.' },
  { key: 'logger.level', type: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal'), default: 'info', description: 'The least severe log lines written, to the log file and the output alike.' },
  { key: 'logger.format', type: oneOf('json', 'text'), description: 'The output\'s log lines: text (one readable line each), or json; by default text on a terminal, json otherwise. logs/securenode.log is JSON lines always.' },
  { key: 'vault.timeout', type: duration, default: '10s', description: 'How long a secret store (hcv, aws) may take to answer one request for a {vault://...} reference.' },
  { key: 'vault.env.prefix', type: string, default: '', description: 'Prefix of environment variables read by {vault://env/...} references.' },
  { key: 'vault.file.path', type: string, description: 'Directory of files read by {vault://file/...} references.' },
  { key: 'vault.hcv.address', type: string, description: 'HashiCorp Vault address, e.g. https://vault:8200.' },
  { key: 'vault.hcv.token', type: string, description: 'HashiCorp Vault token; VAULT_TOKEN is used when unset.' },
  { key: 'vault.hcv.namespace', type: string, description: 'HashiCorp Vault namespace.' },
  { key: 'vault.hcv.mount', type: string, default: 'secret', description: 'HashiCorp Vault KV mount.' },
  { key: 'vault.hcv.auth_method', type: oneOf('token', 'kubernetes', 'approle'), default: 'token', description: 'How securenode gets its Vault token: token (vault.hcv.token or VAULT_TOKEN), kubernetes, or approle.' },
  { key: 'vault.hcv.kube_role', type: string, description: 'The Vault role of a kubernetes login.' },
  { key: 'vault.hcv.kube_auth_path', type: string, default: 'kubernetes', description: 'Where the kubernetes auth method is mounted in Vault.' },
  { key: 'vault.hcv.kube_api_token_file', type: string, default: '/var/run/secrets/kubernetes.io/serviceaccount/token', description: 'The pod\'s service account token, sent to the kubernetes login.' },
  { key: 'vault.hcv.approle_role_id', type: string, description: 'The role id of an approle login.' },
  { key: 'vault.hcv.approle_secret_id', type: string, description: 'The secret id of an approle login (a reference, or approle_secret_id_file, keeps it out of the file).' },
  { key: 'vault.hcv.approle_secret_id_file', type: string, description: 'A file holding the secret id of an approle login.' },
  { key: 'vault.hcv.approle_auth_path', type: string, default: 'approle', description: 'Where the approle auth method is mounted in Vault.' },
  { key: 'vault.hcv.approle_response_wrapping', type: bool, default: false, description: 'The secret id is a response-wrapping token: unwrap it first.' },
  { key: 'vault.hcv.kv_version', type: { kind: 'int', min: 1, max: 2 }, default: 1, description: 'HashiCorp Vault KV engine version: 1 or 2.' },
  { key: 'vault.file.ttl', type: duration, description: 'Read {vault://file/...} references that the running node uses (the store\'s credentials) again this often; unset: once.' },
  { key: 'vault.file.neg_ttl', type: duration, description: 'After a failed read of a {vault://file/...} reference, wait this long before the next (Kong\'s neg_ttl); unset: try at the next need.' },
  { key: 'vault.hcv.ttl', type: duration, description: 'Read {vault://hcv/...} references that the running node uses (the store\'s credentials) again this often; unset: once.' },
  { key: 'vault.hcv.neg_ttl', type: duration, description: 'After a failed read of a {vault://hcv/...} reference, wait this long before the next (Kong\'s neg_ttl); unset: try at the next need.' },
  { key: 'vault.aws.ttl', type: duration, description: 'Read {vault://aws/...} references that the running node uses (the store\'s credentials) again this often; unset: once.' },
  { key: 'vault.aws.neg_ttl', type: duration, description: 'After a failed read of a {vault://aws/...} reference, wait this long before the next (Kong\'s neg_ttl); unset: try at the next need.' },
  { key: 'vault.gcp.project_id', type: string, description: 'Google Cloud project of Secret Manager for {vault://gcp/...} references.' },
  { key: 'vault.gcp.endpoint_url', type: string, description: 'Secret Manager endpoint instead of secretmanager.googleapis.com (a regional or private one).' },
  { key: 'vault.gcp.ttl', type: duration, description: 'Read {vault://gcp/...} references that the running node uses (the store\'s credentials) again this often; unset: once.' },
  { key: 'vault.gcp.neg_ttl', type: duration, description: 'After a failed read of a {vault://gcp/...} reference, wait this long before the next (Kong\'s neg_ttl); unset: try at the next need.' },
  { key: 'vault.azure.vault_uri', type: string, description: 'Azure Key Vault URI for {vault://azure/...} references, e.g. https://my-vault.vault.azure.net; AZURE_VAULT_URI when unset.' },
  { key: 'vault.azure.credentials_prefix', type: string, default: 'AZURE', description: 'Prefix of the variables with the service principal: <prefix>_CLIENT_SECRET, _TENANT_ID, _CLIENT_ID.' },
  { key: 'vault.azure.tenant_id', type: string, description: 'Microsoft Entra tenant of the service principal; <prefix>_TENANT_ID when unset.' },
  { key: 'vault.azure.client_id', type: string, description: 'Client id of the service principal; <prefix>_CLIENT_ID when unset.' },
  { key: 'vault.azure.ttl', type: duration, description: 'Read {vault://azure/...} references that the running node uses (the store\'s credentials) again this often; unset: once.' },
  { key: 'vault.azure.neg_ttl', type: duration, description: 'After a failed read of a {vault://azure/...} reference, wait this long before the next (Kong\'s neg_ttl); unset: try at the next need.' },
  { key: 'vault.aws.region', type: string, description: 'AWS region of Secrets Manager for {vault://aws/...} references; AWS_REGION when unset.' },
  { key: 'vault.aws.endpoint_url', type: string, description: 'Secrets Manager endpoint instead of the region\'s (a VPC endpoint, or a local test server).' },
  { key: 'vault.aws.assume_role_arn', type: string, description: 'A role to assume through STS before reading secrets.' },
  { key: 'vault.aws.role_session_name', type: string, default: 'securenode', description: 'The session name of the assumed role.' },
  { key: 'vault.aws.sts_endpoint_url', type: string, description: 'STS endpoint for assume_role_arn instead of the region\'s.' },
];

const byKey = new Map(settingDefinitions.map((definition) => [definition.key, definition]));

/** The definition of a key, or undefined when the key is not known. */
export function findSetting(key: string): SettingDefinition | undefined {
  return byKey.get(key);
}

/** The name of the environment variable that sets a key: SECURENODE_ + key, dots as _, upper case. */
export function environmentName(key: string): string {
  return `SECURENODE_${key.replace(/\./g, '_').toUpperCase()}`;
}

/** Environment variables that start with SECURENODE_ but are not settings. */
export const reservedEnvironmentNames: ReadonlySet<string> = new Set([
  'SECURENODE_HOME',
  'SECURENODE_KEYSTORE_PASSWORD',
  'SECURENODE_ENROLLMENT_TOKEN',
]);

/**
 * The securenode library: what a server that embeds securenode calls. Named
 * re-exports only; the modules behind them are internal and may change.
 */
// Errors and exit codes.
export { ExitCode, SecurenodeError, isSecurenodeError, errorExitCodes, type ErrorCode, type ExitCodeValue } from './errors.js';
// The home: its layout and its creation.
export { homePaths, resolveHome, type HomePaths } from './home/layout.js';
export { ensureHome, type HomeState } from './home/create-home.js';
// Settings: securenode.yml, SECURENODE_* variables and -E overrides, with their schema.
export { loadSettings, type LoadSettingsOptions } from './settings/load.js';
export { Settings, type SettingOrigin } from './settings/settings.js';
export { settingDefinitions, findSetting, type SettingDefinition, type SettingType, type SettingValue } from './settings/schema.js';
// Secrets: the keystore and {vault://...} references.
export { Keystore, type KeystoreEntry } from './keystore/keystore.js';
export { looksLikeVaultReference as isVaultReference, parseVaultReference, VaultReferenceError, type VaultReference } from './settings/vault/reference.js';
export { resolveVaultReferences, type VaultContext } from './settings/vault/resolve.js';
// The first start: auto-configuration and the TLS material it makes.
export { autoConfigure, type AutoConfigureOptions, type AutoConfigureResult, type AutoConfigureProgress } from './autoconfig/auto-configure.js';
export { type Finding } from './preflight/checks.js';
export { type Recovery } from './autoconfig/journal.js';
export { loadTlsFiles, type TlsFiles } from './autoconfig/tls-files.js';
export { generateTlsMaterial, type TlsMaterial, type TlsMaterialOptions } from './pki/tls-material.js';
export { sha256Fingerprint } from './pki/fingerprint.js';
// The node, and the security store it serves users, roles and keys from.
export { startNode, type NodeOptions, type RunningNode } from './node/server.js';
export { startSecurenode, type StartSecurenodeOptions, type Securenode } from './node/start-securenode.js';
export { type Decision, type Identity, type RequestToDecide } from './node/in-process.js';
export { securenodeFastify, type SecurenodeFastifyOptions } from './plugins/fastify.js';
export { securenodeExpress, type SecurenodeRequest } from './plugins/express.js';
export { type GatewayRoute } from './settings/gateway-routes.js';
export { openStore, type OpenStoreOptions } from './security/open-store.js';
export { SecurityStore, type Mutation, type StoreData, type StoreOp, type StoredRole } from './security/store.js';
export { FileStore, type StoredUser } from './security/file-store.js';
export { PostgresStore, type PostgresStoreOptions } from './security/postgres-store.js';
export { postgresConnection, type PostgresConnection } from './security/postgres-connection.js';
// Passwords and roles.
export { generatePassword, hashPassword, verifyPassword } from './security/password.js';
export { builtInRoles, isBuiltInRole, type Action, type EndpointPermission, type EntityPermission, type RoleDefinition } from './security/rbac-matcher.js';

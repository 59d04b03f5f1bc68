/** The securenode library: named re-exports only. */
export { ExitCode, SecurenodeError, isSecurenodeError, errorExitCodes, type ErrorCode, type ExitCodeValue } from './errors.js';
export { homePaths, resolveHome, type HomePaths } from './home/layout.js';
export { ensureHome, type HomeState } from './home/create-home.js';
export { loadSettings, mergeSettings, type LoadSettingsOptions } from './settings/load.js';
export { Settings, type SettingOrigin } from './settings/settings.js';
export { settingDefinitions, findSetting, environmentName, type SettingDefinition, type SettingType, type SettingValue } from './settings/schema.js';
export { parseDuration } from './settings/coerce.js';
export { looksLikeVaultReference as isVaultReference, parseVaultReference, VaultReferenceError, type VaultReference } from './settings/vault/reference.js';
export { resolveVaultReferences, type VaultContext } from './settings/vault/resolve.js';
export { Keystore, type KeystoreEntry } from './keystore/keystore.js';
export { generateRsaKeyPair, keyIdentifier, type RsaKeyPair } from './pki/keys.js';
export { issueCertificate, type IssuedCertificate, type CertificateRequest, type SubjectAltName, type CertificateProfile } from './pki/certificate.js';
export { discoverSubjectAltNames, type SubjectAltNameSources } from './pki/subject-alt-names.js';
export { buildPkcs12, type Pkcs12Entry } from './pki/pkcs12.js';
export { sha256Fingerprint } from './pki/fingerprint.js';
export {
  generateTlsMaterial,
  issueHttpCertificate,
  buildHttpP12,
  buildTransportP12,
  randomP12Password,
  certificateProfiles,
  tlsPasswordSettings,
  type TlsMaterial,
  type TlsMaterialOptions,
} from './pki/tls-material.js';
export { autoConfigure, type AutoConfigureOptions, type AutoConfigureResult, type AutoConfigureProgress } from './autoconfig/auto-configure.js';
export { loadTlsFiles, type TlsFiles } from './autoconfig/tls-files.js';
export { renderConfigBlock, removeConfigBlock, appendConfigBlock, hasConfigBlock, blockSettings, beginMarker, endMarker, type BlockInput } from './autoconfig/config-block.js';
export { recoverJournal, type Recovery } from './autoconfig/journal.js';
export { checks, firstFinding, isInitialClusterNode, type Finding, type PreflightFacts } from './preflight/checks.js';
export { startNode, type NodeOptions, type RunningNode } from './node/server.js';
export { FileStore, type StoredUser } from './security/file-store.js';
export { SecurityStore, applyStoreOp, type StoreData, type StoreOp, type StoredRole } from './security/store.js';
export { PostgresStore, type PostgresStoreOptions } from './security/postgres-store.js';
export { postgresConnection, type PostgresConnection } from './security/postgres-connection.js';
export { migrate, migrations, schemaVersion, type Migration, type MigrationResult } from './security/postgres-schema.js';
export { openStore, type OpenStoreOptions } from './security/open-store.js';
export { generatePassword, hashPassword, verifyPassword, passwordAlphabet } from './security/password.js';
export { authorizeEndpoint, authorizeEntity, compileEndpoints, candidateEndpoints, actionFor, normalizeEndpoint, builtInRoles, isBuiltInRole, subtree, type Action, type EndpointPermission, type EntityPermission, type RoleDefinition, type EndpointDecision } from './security/rbac-matcher.js';

import t from 'tap';
// The package's own name: what a developer embedding securenode imports.
import * as securenode from 'securenode';

t.test('the public entry point exports the library, named', async (t) => {
  for (const name of ['autoConfigure', 'startNode',
    'startSecurenode', 'openStore', 'FileStore', 'PostgresStore', 'generateTlsMaterial', 'Keystore', 'loadSettings', 'SecurenodeError', 'ExitCode', 'sha256Fingerprint', 'homePaths']) {
    t.ok(name in securenode, name);
  }
  t.equal(securenode.ExitCode.config, 78);
  t.equal(new securenode.SecurenodeError('ERR_CONFIG_SYNTAX', 'm').exitCode, 78);
  t.equal(securenode.isSecurenodeError(new Error('x')), false);
  t.equal(securenode.isVaultReference('{vault://env/x}'), true);
  t.equal(securenode.isVaultReference('plain'), false);
});

t.test('the public API is what a user calls, not the internals behind it', async (t) => {
  t.same(Object.keys(securenode).sort(), [
    'ExitCode', 'FileStore', 'Keystore', 'PostgresStore', 'SecurenodeError', 'SecurityStore', 'Settings', 'VaultReferenceError',
    'autoConfigure', 'builtInRoles', 'ensureHome', 'errorExitCodes', 'findSetting', 'generatePassword', 'generateTlsMaterial', 'hashPassword',
    'homePaths', 'isBuiltInRole', 'isSecurenodeError', 'isVaultReference', 'loadSettings', 'loadTlsFiles', 'openStore', 'parseVaultReference',
    'postgresConnection', 'resolveHome', 'resolveVaultReferences', 'securenodeExpress',
    'securenodeFastify',
    'settingDefinitions', 'sha256Fingerprint', 'startNode',
    'startSecurenode', 'verifyPassword',
  ]);
  for (const internal of ['beginMarker', 'subtree', 'passwordAlphabet', 'applyStoreOp', 'compileEndpoints', 'recoverJournal', 'checks', 'migrate', 'buildPkcs12', 'mergeSettings']) {
    t.notOk(internal in securenode, `${internal} is internal`);
  }
});

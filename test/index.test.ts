import t from 'tap';
// The package's own name: what a developer embedding securenode imports.
import * as securenode from 'securenode';

t.test('the public entry point exports the library, named', async (t) => {
  for (const name of ['generateTlsMaterial', 'discoverSubjectAltNames', 'Keystore', 'loadSettings', 'SecurenodeError', 'ExitCode', 'sha256Fingerprint', 'homePaths']) {
    t.ok(name in securenode, name);
  }
  t.equal(securenode.ExitCode.config, 78);
  t.equal(new securenode.SecurenodeError('ERR_CONFIG_SYNTAX', 'm').exitCode, 78);
  t.equal(securenode.isSecurenodeError(new Error('x')), false);
  t.equal(securenode.isVaultReference('{vault://env/x}'), true);
  t.equal(securenode.isVaultReference('plain'), false);
});

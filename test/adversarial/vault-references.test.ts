// Attack: make a vault reference read or send what it should not. A symlink
// under vault.file.path pointing out of it is refused (the real path is
// checked), and a reference cannot send the Vault token to an address of its
// own choosing, over http or otherwise.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import t from 'tap';
import { resolveVaultReferences } from '../../src/settings/vault/resolve.js';
import { startFakeVault } from '../helpers/fake-vault.js';
import { settingsOf } from '../helpers/settings.js';

const resolveOne = async (value: string, extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
  (await resolveVaultReferences(settingsOf({ 'cluster.name': value, ...extra }), { env })).get('cluster.name');
const failure = (ref: string, reason: string) => ({ code: 'ERR_VAULT', message: `failed to dereference '${ref}': ${reason} for setting 'cluster.name'` });

t.test('file: symlinks out of vault.file.path are refused; inside it they are followed', async (t) => {
  const root = t.testdir({ secrets: { 'name.txt': 'inside\n' }, 'outside.txt': 'the keystore, say\n', elsewhere: { 'x.txt': 'x' } });
  const base = `${root}/secrets`;
  await symlink(`${root}/outside.txt`, `${base}/escape`);
  await symlink(`${root}/elsewhere`, `${base}/dir`);
  await symlink(`${base}/name.txt`, `${base}/alias`);
  await mkdir(`${base}/sub`);
  await writeFile(`${base}/sub/deep.txt`, 'deep');
  const settings = { 'vault.file.path': base };
  t.equal(await resolveOne('{vault://file/name.txt}', settings), 'inside');
  t.equal(await resolveOne('{vault://file/alias}', settings), 'inside', 'a link that stays inside is followed');
  t.equal(await resolveOne('{vault://file/sub/deep.txt/}', settings), 'deep');
  const outside = `the resource must stay inside vault.file.path (${base})`;
  await t.rejects(resolveOne('{vault://file/escape}', settings), failure('{vault://file/escape}', outside), 'a symlinked file pointing out');
  await t.rejects(resolveOne('{vault://file/dir/x.txt/}', settings), failure('{vault://file/dir/x.txt/}', outside), 'a symlinked directory pointing out');
  await t.rejects(resolveOne('{vault://file/..%2Foutside.txt}', settings), failure('{vault://file/..%2Foutside.txt}', outside), 'an encoded ..');
});

t.test('hcv: the token goes only to vault.hcv.address; a reference naming another address is refused before any request', async (t) => {
  const vault = await startFakeVault({ token: 'vault-token-1', v1: { 'secret/cluster': { name: 'from-hcv' } }, v2: {} });
  const rogue = await startFakeVault({ token: 'nothing', v1: {}, v2: {} });
  t.teardown(() => Promise.all([vault.close(), rogue.close()]));
  const env = { VAULT_TOKEN: 'vault-token-1' };
  const settings = { 'vault.hcv.address': vault.address };
  t.equal(await resolveOne('{vault://hcv/cluster/name}', settings, env), 'from-hcv');
  t.equal(await resolveOne(`{vault://hcv/cluster/name?address=${vault.address}/}`, settings, env), 'from-hcv', 'repeating the configured address is allowed');
  for (const address of [rogue.address, rogue.address.replace('http:', 'https:'), 'http://example.invalid']) {
    const ref = `{vault://hcv/cluster/name?address=${address}}`;
    await t.rejects(resolveOne(ref, settings, env), failure(ref, `the address option may only repeat vault.hcv.address (${vault.address}); the Vault token is sent nowhere else`), address);
  }
  const ref = `{vault://hcv/cluster/name?address=${rogue.address}}`;
  await t.rejects(resolveOne(ref, {}, env), failure(ref, 'vault.hcv.address is not set'), 'without a configured address, none is taken from a reference');
  t.same(rogue.seen, [], 'the rogue address never saw a request, nor the token');
});

import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import t from 'tap';
import { autoConfigure } from '../../src/autoconfig/auto-configure.js';
import { hasConfigBlock } from '../../src/autoconfig/config-block.js';
import { transactionSteps } from '../../src/autoconfig/transaction.js';
import { ensureHome } from '../../src/home/create-home.js';
import { homePaths } from '../../src/home/layout.js';
import { Keystore } from '../../src/keystore/keystore.js';
import { snapshot } from '../helpers/home-snapshot.js';
import { pooledKeyPair } from '../helpers/key-pool.js';

const crashScript = fileURLToPath(new URL('../helpers/crash-at-step.js', import.meta.url));

/** A home as an operator leaves it before the first start: their own yml and a keystore with a secret. */
async function preparedHome(root: string): Promise<string> {
  const home = `${root}/home`;
  const paths = homePaths(home);
  await ensureHome(paths);
  await writeFile(paths.configFile, '# operator comment\ncluster.name: prod\n');
  const keystore = new Keystore();
  keystore.setString('bootstrap.password', 'kept-secret-1');
  await keystore.save(paths.keystoreFile, '');
  return home;
}

t.test('a failure after any step leaves the home exactly as it was', async (t) => {
  for (const step of transactionSteps.slice(0, -1)) {
    const home = await preparedHome(t.testdir());
    const before = await snapshot(home);
    await t.rejects(
      autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {}, afterStep: async (reached) => { if (reached === step) throw new Error(`disk full at ${step}`); } }),
      { message: `disk full at ${step}` },
      step,
    );
    t.same(await snapshot(home), before, `nothing changed after a failure at ${step}`);
    const again = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {} });
    t.equal(again.kind, 'configured', `the next run configures after a failure at ${step}`);
  }
});

t.test('a failure after the commit (securenode.yml written) keeps the configuration', async (t) => {
  const home = await preparedHome(t.testdir());
  const result = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {}, afterStep: async (reached) => { if (reached === 'config-written') throw new Error('late'); } });
  t.equal(result.kind, 'configured');
  t.equal(hasConfigBlock(await readFile(homePaths(home).configFile, 'utf8')), true);
});

t.test('a crash (SIGKILL) after any step is recovered at the next run', async (t) => {
  for (const step of transactionSteps) {
    const home = await preparedHome(t.testdir());
    const crashed = await execa(process.execPath, [crashScript, home, step], { reject: false });
    t.equal(crashed.signal, 'SIGKILL', `died at ${step}`);
    const result = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {} });
    const committed = step === 'config-written';
    t.equal(result.recovery, committed ? 'completed' : 'rolled-back', `recovery after ${step}`);
    t.equal(result.kind, committed ? 'skipped' : 'configured', `configured after ${step}`);
    const files = Object.keys(await snapshot(home));
    t.same(files.filter((name) => /\.(tmp|orig)$|journal|probe/.test(name)), [], `no leftovers after ${step}`);
    const keystore = await Keystore.load(homePaths(home).keystoreFile, '');
    t.equal(keystore.getString('bootstrap.password'), 'kept-secret-1', `the operator's secret survives a crash at ${step}`);
    const text = await readFile(homePaths(home).configFile, 'utf8');
    t.ok(text.startsWith('# operator comment\ncluster.name: prod\n'), 'the operator text is intact');
    t.equal(text.split('BEGIN SECURITY AUTO CONFIGURATION').length, 2, 'exactly one block');
  }
});

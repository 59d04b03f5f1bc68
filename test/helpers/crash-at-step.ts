// Run auto-configuration on a home and die by SIGKILL right after a given
// transaction step: a crash, with no rollback code running.
import { autoConfigure } from '../../src/autoconfig/auto-configure.js';
import { pooledKeyPair } from './key-pool.js';

const [home, step] = process.argv.slice(2);
await autoConfigure({
  home: home!,
  generateKeyPair: pooledKeyPair,
  env: {},
  afterStep: async (reached) => {
    if (reached === step) process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write('finished without crashing\n');

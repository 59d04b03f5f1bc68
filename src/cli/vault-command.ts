import type { Command } from 'commander';
import { homePaths, resolveHome } from '../home/layout.js';
import { loadSettingsIfAny } from '../settings/load.js';
import { resolveReference } from '../settings/vault/resolve.js';
import type { CliIo } from './io.js';

interface VaultGetOptions {
  home?: string;
  setting: string[];
}

/** Register `securenode vault get` (Kong's `kong vault get`): read one reference with a home's settings, to check a setup. */
export function registerVaultCommand(program: Command, io: CliIo, done: (code: number) => void): void {
  const vault = program.command('vault').description('secret references ({vault://...}) as a node reads them');
  vault
    .command('get')
    .argument('<reference>', 'a reference, e.g. {vault://aws/kong-gateway-database/pg_password}')
    .description("print the value a reference resolves to with the home's vault.* settings (its securenode.yml, SECURENODE_* variables and -E)")
    .option('--home <dir>', 'the node home whose settings configure the backends (default: $SECURENODE_HOME, else ./securenode-home)')
    .option('-E, --setting <key=value>', 'a setting (repeatable), e.g. -E vault.aws.region=us-east-1', (value: string, all: string[]) => [...all, value], [])
    .action(async (reference: string, options: VaultGetOptions) => {
      const home = resolveHome(options.home, io.env);
      const settings = await loadSettingsIfAny({ configFile: homePaths(home).configFile, env: io.env, overrides: options.setting });
      io.stdout.write(`${await resolveReference(reference, settings, { env: io.env })}\n`);
      done(0);
    });
}

import type { Command } from 'commander';
import pg from 'pg';
import { SecurenodeError } from '../errors.js';
import { homePaths, resolveHome } from '../home/layout.js';
import { clientConfig, connectionError, describeConnection, postgresConnection } from '../security/postgres-connection.js';
import { migrate } from '../security/postgres-schema.js';
import { seedSuperuser } from '../security/postgres-seed.js';
import { checkBootstrapPassword, readBootstrapPassword } from '../security/bootstrap.js';
import { hashPassword } from '../security/password.js';
import { superuserName } from '../security/superuser.js';
import { commandHint } from '../home/command-hint.js';
import { loadSettingsIfAny } from '../settings/load.js';
import { resolveVaultReferences } from '../settings/vault/resolve.js';
import type { CliIo } from './io.js';

interface MigrationsOptions {
  home?: string;
  setting: string[];
}

/** Register `securenode migrations bootstrap` (Kong's `kong migrations bootstrap`): the PostgreSQL store's schema, before or without a first start. */
export function registerMigrationsCommand(program: Command, io: CliIo, done: (code: number) => void): void {
  const migrations = program.command('migrations').description('the schema of the PostgreSQL security store (security.store.type: postgres)');
  migrations
    .command('bootstrap')
    .description("create the security store's tables, or bring them to this version's schema, and with ELASTIC_PASSWORD (or ELASTIC_PASSWORD_FILE) the elastic superuser in an empty store; running it again changes nothing")
    .option('--home <dir>', 'the node home whose settings name the database (default: $SECURENODE_HOME, else ./securenode-home)')
    .option('-E, --setting <key=value>', 'a setting (repeatable), e.g. -E security.store.postgres.host=db', (value: string, all: string[]) => [...all, value], [])
    .action(async (options: MigrationsOptions) => done(await bootstrap(options, io)));
}

async function bootstrap(options: MigrationsOptions, io: CliIo): Promise<number> {
  const home = resolveHome(options.home, io.env);
  const raw = await loadSettingsIfAny({ configFile: homePaths(home).configFile, env: io.env, overrides: options.setting });
  if (raw.string('security.store.type') !== 'postgres') {
    throw new SecurenodeError('ERR_STORE_CONFIG', 'security.store.type is file (the embedded store, which needs no migrations); set security.store.type: postgres and security.store.postgres.* to use a database');
  }
  const connection = postgresConnection(await resolveVaultReferences(raw, { env: io.env }));
  const bootstrapPassword = await readBootstrapPassword(io.env, undefined);
  if (bootstrapPassword) checkBootstrapPassword(bootstrapPassword);
  const where = describeConnection(connection);
  const client = new pg.Client(clientConfig(connection));
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await migrate(client);
    for (const migration of result.applied) io.stdout.write(`applied migration ${migration.version}: ${migration.name}\n`);
    io.stdout.write(
      result.applied.length > 0
        ? `the security store in the ${where} is at schema version ${result.after}\n`
        : `the security store in the ${where} is already at schema version ${result.after}; nothing to do\n`,
    );
    // The super admin, seeded once from the bootstrap password (Kong's KONG_PASSWORD); the password is hashed before it is sent.
    if (bootstrapPassword) {
      const seeded = await seedSuperuser(client, await hashPassword(bootstrapPassword.password));
      io.stdout.write(
        seeded === 'created'
          ? `created the ${superuserName} superuser with the password from ${bootstrapPassword.source}\n`
          : `the security store already has users: the password from ${bootstrapPassword.source} was not applied (change a password with \`${commandHint(`reset-password -u ${superuserName}`, home)}\`)\n`,
      );
    }
    return 0;
  } catch (error) {
    throw connectionError(error, connection);
  } finally {
    await client.end().catch(() => {});
  }
}

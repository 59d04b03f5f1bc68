import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { SecurenodeError } from '../errors.js';
import { ensureHome } from '../home/create-home.js';
import { homeOfConfigFile, homePaths, resolveHome } from '../home/layout.js';
import { checkSettingName, Keystore } from '../keystore/keystore.js';
import { ask, canPrompt, confirm, readAllStdin, readStdinLine, type CliIo } from './io.js';
import { keystorePasswordVariable, openKeystore, readNewPassword } from './keystore-password.js';
import { commandHint } from '../home/command-hint.js';

interface HomeOption {
  home?: string;
}

/** Exit code of has-passwd when the keystore has no password (as Elasticsearch). */
const notProtected = 1;

/** Register `securenode keystore ...`; each action sets the exit code through `done`. */
export function registerKeystoreCommands(program: Command, io: CliIo, done: (code: number) => void): void {
  const keystore = program.command('keystore').description('manage the encrypted secure settings (config/securenode.keystore)');
  const withHome = (command: Command): Command => command.option('--home <dir>', 'the node home (default: $SECURENODE_HOME, else ./securenode-home)');
  const keystorePath = (options: HomeOption): string => homePaths(resolveHome(options.home, io.env)).keystoreFile;
  const say = (line: string): void => void io.stdout.write(`${line}\n`);

  withHome(keystore.command('create'))
    .description(`create a new keystore (password from ${keystorePasswordVariable}; -p asks for one)`)
    .option('-p, --password', 'protect the keystore with a password')
    .option('-f, --force', 'overwrite an existing keystore without asking')
    .action(async (options: HomeOption & { password?: boolean; force?: boolean }) => {
      const paths = homePaths(resolveHome(options.home, io.env));
      await ensureHome(paths);
      if ((await Keystore.exists(paths.keystoreFile)) && !options.force) {
        if (!canPrompt(io) || !(await confirm(io, `A keystore already exists at ${paths.keystoreFile}. Overwrite?`))) {
          throw new SecurenodeError('ERR_KEYSTORE_EXISTS', `a keystore already exists at ${paths.keystoreFile}; nothing was changed (use -f to overwrite it)`);
        }
      }
      const fromEnvironment = io.env[keystorePasswordVariable];
      const password = fromEnvironment ?? (options.password ? await readNewPassword(io) : '');
      await new Keystore().save(paths.keystoreFile, password);
      say(`Created the keystore ${paths.keystoreFile}${password === '' ? ' (no password: its content is obfuscated, not protected)' : ''}.`);
      done(0);
    });

  withHome(keystore.command('list'))
    .description('list the setting names in the keystore')
    .action(async (options: HomeOption) => {
      const { keystore: store } = await openKeystore(io, keystorePath(options));
      for (const name of store.list()) say(name);
      done(0);
    });

  withHome(keystore.command('add <name>'))
    .description('add a string setting, typed at the terminal or read from standard input')
    .option('--stdin', 'read the value from standard input (all of it, less one trailing newline)')
    .option('-f, --force', 'overwrite the setting if it exists')
    .action(async (name: string, options: HomeOption & { stdin?: boolean; force?: boolean }) => {
      await addSetting(io, keystorePath(options), name, options.force, async (store) => {
        if (options.stdin) store.setString(name, (await readAllStdin(io)).toString('utf8').replace(/\r?\n$/, ''));
        else if (canPrompt(io)) store.setString(name, await ask(io, `Enter value for ${name}: `, { secret: true }));
        else store.setString(name, await readStdinLine(io, `the value of ${name}`));
      });
      done(0);
    });

  withHome(keystore.command('add-file <name> <file>'))
    .description('add a setting holding the bytes of a file')
    .option('-f, --force', 'overwrite the setting if it exists')
    .action(async (name: string, file: string, options: HomeOption & { force?: boolean }) => {
      await addSetting(io, keystorePath(options), name, options.force, async (store) => {
        try {
          store.setFile(name, await readFile(file));
        } catch (error) {
          throw new SecurenodeError('ERR_IO', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; nothing was changed`);
        }
      });
      done(0);
    });

  withHome(keystore.command('remove <name>'))
    .description('remove a setting')
    .action(async (name: string, options: HomeOption) => {
      const path = keystorePath(options);
      const { keystore: store, password } = await openKeystore(io, path);
      if (!store.remove(name)) throw missingSetting(name, path);
      await store.save(path, password);
      done(0);
    });

  withHome(keystore.command('show <name>'))
    .description('print the value of a setting (file settings as their raw bytes)')
    .action(async (name: string, options: HomeOption) => {
      const path = keystorePath(options);
      const { keystore: store } = await openKeystore(io, path);
      const entry = store.entry(name);
      if (!entry) throw missingSetting(name, path);
      io.stdout.write(entry.type === 'file' ? entry.value : `${entry.value.toString('utf8')}\n`);
      done(0);
    });

  withHome(keystore.command('passwd'))
    .description('change the keystore password (typed twice, or the first line of standard input)')
    .action(async (options: HomeOption) => {
      const path = keystorePath(options);
      const { keystore: store } = await openKeystore(io, path);
      const password = await readNewPassword(io);
      await store.save(path, password);
      say('The keystore password was changed.');
      done(0);
    });

  withHome(keystore.command('has-passwd'))
    .description('exit 0 if the keystore is password-protected, 1 if not')
    .action(async (options: HomeOption) => {
      const path = keystorePath(options);
      if (!(await Keystore.exists(path))) await Keystore.load(path, '');
      if (await Keystore.isPasswordProtected(path)) {
        say('The keystore is password-protected.');
        done(0);
      } else {
        say('The keystore is not password-protected.');
        done(notProtected);
      }
    });
}

/** add and add-file: check the name, open the keystore, ask before overwriting, set the value, save. */
async function addSetting(io: CliIo, path: string, name: string, force: boolean | undefined, setValue: (store: Keystore) => Promise<void>): Promise<void> {
  checkSettingName(name);
  const { keystore: store, password } = await openKeystore(io, path);
  if (store.has(name) && !force && !(canPrompt(io) && (await confirm(io, `Setting ${name} already exists. Overwrite?`)))) {
    throw new SecurenodeError('ERR_KEYSTORE_SETTING_EXISTS', `the setting ${name} already exists in the keystore; nothing was changed (use -f to overwrite it)`);
  }
  await setValue(store);
  await store.save(path, password);
}

function missingSetting(name: string, path: string): SecurenodeError {
  return new SecurenodeError('ERR_KEYSTORE_SETTING_MISSING', `the setting ${name} is not in the keystore ${path} (\`${commandHint('keystore list', homeOfConfigFile(path))}\` shows what is)`);
}

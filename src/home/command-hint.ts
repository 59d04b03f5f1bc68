import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This package's command, bin/securenode. */
const ownCommand = fileURLToPath(new URL('../../../bin/securenode', import.meta.url));

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** The project npx would run from: the nearest directory up from cwd with a package.json or node_modules, as npm finds it. */
function npmProject(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) || existsSync(join(dir, 'node_modules'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Whether `npx securenode` in cwd runs this securenode: the project is this package, or has it installed. */
function npxFinds(cwd: string): boolean {
  const project = npmProject(cwd);
  if (project === undefined) return false;
  if (sameFile(join(project, 'node_modules', 'securenode', 'bin', 'securenode'), ownCommand)) return true;
  try {
    const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { name?: unknown };
    return manifest.name === 'securenode' && sameFile(join(project, 'bin', 'securenode'), ownCommand);
  } catch {
    return false;
  }
}

/** A word as a POSIX shell reads it back: unquoted when it is plain, else in single quotes. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * How an operator runs this securenode from a shell here: `securenode` when the
 * PATH has it (an `npm install -g`), `npx securenode` in a project that has it
 * (a checkout, or an app that depends on it), else the path of its command.
 */
export function securenodeCommand(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (onPath(env)) return 'securenode';
  return npxFinds(cwd) ? 'npx securenode' : shellWord(ownCommand);
}

function onPath(env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && sameFile(join(dir, 'securenode'), ownCommand));
}

/**
 * A command the product prints for the operator to paste: run the way this
 * securenode is run here, with `--home` unless the home is the one a bare
 * command finds (./securenode-home, with SECURENODE_HOME unset).
 */
export function commandHint(args: string, home?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const plainDefault = env.SECURENODE_HOME === undefined && home !== undefined && resolve(cwd, home) === resolve(cwd, 'securenode-home');
  const homeOption = home === undefined || plainDefault ? '' : ` --home ${shellWord(resolve(cwd, home))}`;
  return `${securenodeCommand(env, cwd)} ${args}${homeOption}`;
}

/**
 * The same, run as another user (`su USER -s /bin/sh -c '...'`): that user has
 * neither this directory nor, often, a home for npx's cache, so the command is
 * `securenode` from the PATH or this command's path, and the home always named.
 */
export function commandAsUser(user: string, args: string, home: string, env: NodeJS.ProcessEnv = process.env): string {
  const command = onPath(env) ? 'securenode' : shellWord(ownCommand);
  return `su ${shellWord(user)} -s /bin/sh -c ${shellWord(`${command} ${args} --home ${shellWord(resolve(home))}`)}`;
}

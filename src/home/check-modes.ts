import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SecurenodeError } from '../errors.js';
import type { HomePaths } from './layout.js';
import { shellWord } from './command-hint.js';

/** A file or directory whose mode is wrong, with the command that fixes it. */
export interface ModeProblem {
  readonly path: string;
  readonly mode: number;
  readonly fix: string;
}

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

async function modeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mode & 0o777;
  } catch {
    return undefined;
  }
}

/**
 * Check the modes of everything that holds a key or a secret (SPEC 1, 9): the
 * keystore, the .p12 files and the security store and its log 0600 (0640 with a group),
 * the certs dir 0750, nothing in it readable by others.
 */
export async function findModeProblems(paths: HomePaths, options: { group: boolean }): Promise<ModeProblem[]> {
  const secretMode = options.group ? 0o640 : 0o600;
  const problems: ModeProblem[] = [];
  const secret = async (path: string): Promise<void> => {
    const mode = await modeOf(path);
    if (mode !== undefined && (mode & ~secretMode) !== 0) problems.push({ path, mode, fix: `chmod ${octal(secretMode).slice(1)} ${shellWord(path)}` });
  };
  await secret(paths.keystoreFile);
  await secret(join(paths.dataDir, 'security.json'));
  await secret(join(paths.dataDir, 'security.log'));
  const certsMode = await modeOf(paths.certsDir);
  if (certsMode !== undefined) {
    if ((certsMode & ~0o750) !== 0) problems.push({ path: paths.certsDir, mode: certsMode, fix: `chmod 750 ${shellWord(paths.certsDir)}` });
    for (const name of await readdir(paths.certsDir)) {
      const path = join(paths.certsDir, name);
      if (name.endsWith('.p12')) await secret(path);
      else {
        const mode = await modeOf(path);
        if (mode !== undefined && (mode & 0o007) !== 0) problems.push({ path, mode, fix: `chmod o-rwx ${shellWord(path)}` });
      }
    }
  }
  return problems;
}

/** Refuse to start when a secret is readable by others (exit 78), naming each file and its fix. */
export async function checkModes(paths: HomePaths, options: { group: boolean }): Promise<void> {
  const problems = await findModeProblems(paths, options);
  if (problems.length === 0) return;
  const list = problems.map((problem) => `${problem.path} has mode ${octal(problem.mode)} (fix: ${problem.fix})`).join('; ');
  throw new SecurenodeError('ERR_FILE_MODES', `files that hold keys or secrets are readable by more than their owner${options.group ? ' and group' : ''}: ${list}`);
}

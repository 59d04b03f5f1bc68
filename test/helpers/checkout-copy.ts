import { cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { securenodeBin } from './cli.js';

/** The checkout these tests run from. */
export const checkout = resolve(securenodeBin, '../..');

/**
 * The checkout as a user has it (no build, no tests' output), sharing the
 * installed node_modules: `npm pack` there builds and packs without touching
 * the dist/ that the running tests load.
 */
export async function copyCheckout(to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  // What the package ships (its "files", but dist/, which the copy builds) and what building it needs.
  const shipped = (JSON.parse(await readFile(join(checkout, 'package.json'), 'utf8')) as { files: string[] }).files.filter((entry) => !entry.startsWith('dist'));
  for (const entry of new Set(['package.json', 'package-lock.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts', ...shipped])) {
    await cp(join(checkout, entry), join(to, entry), { recursive: true });
  }
  await symlink(join(checkout, 'node_modules'), join(to, 'node_modules'));
}

/** `npm pack` of a copy of the checkout (prepack builds it); the tarball's path. */
export async function packTarball(dir: string): Promise<string> {
  const copy = join(dir, 'checkout');
  await copyCheckout(copy);
  const packed = await execa('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: copy });
  return join(dir, packed.stdout.trim().split('\n').pop()!);
}

import { createHash } from 'node:crypto';
import { readdir, readFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';

/** Every file and directory under a root, with its mode and a hash of its content. */
export async function snapshot(root: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const info = await lstat(path);
      const mode = (info.mode & 0o777).toString(8);
      if (info.isDirectory()) {
        result[`${prefix}${name}/`] = mode;
        await walk(path, `${prefix}${name}/`);
      } else {
        result[`${prefix}${name}`] = `${mode} ${createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 16)}`;
      }
    }
  };
  await walk(root, '');
  return result;
}

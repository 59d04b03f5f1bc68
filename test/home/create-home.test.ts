import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import t from 'tap';
import { ensureHome, templatePath } from '../../src/home/create-home.js';
import { homePaths } from '../../src/home/layout.js';

t.test('a new home gets a whole config dir; a staging dir left by a crash is built afresh', async (t) => {
  const home = `${t.testdir()}/home`;
  // What a kill -9 in the middle of an earlier creation leaves: the staging dir, half written.
  await mkdir(`${home}/.config.creating`, { recursive: true });
  await writeFile(`${home}/.config.creating/securenode.yml`, 'cluster.na');
  const paths = homePaths(home);
  t.same(await ensureHome(paths), { kind: 'created' });
  t.equal(await readFile(paths.configFile, 'utf8'), await readFile(templatePath('securenode.yml'), 'utf8'), 'the template, whole');
  t.equal((await stat(paths.configDir)).mode & 0o777, 0o750);
  t.equal((await stat(paths.configFile)).mode & 0o777, 0o640);
  t.same((await readdir(home)).sort(), ['config', 'data', 'logs'], 'no staging dir left');
  t.same(await ensureHome(paths), { kind: 'existing' });

  // Only an operator can leave a config dir without securenode.yml: that is refused, never re-created.
  await rm(paths.configFile);
  await writeFile(`${paths.configDir}/notes.txt`, 'mine');
  await t.rejects(ensureHome(paths), { code: 'ERR_CONFIG_MISSING' });
});

t.test('an empty config dir (a mounted volume) is filled from the template, as a missing one is', async (t) => {
  const home = `${t.testdir()}/home`;
  const paths = homePaths(home);
  await mkdir(paths.configDir, { recursive: true, mode: 0o700 });
  t.same(await ensureHome(paths), { kind: 'created' });
  t.equal(await readFile(paths.configFile, 'utf8'), await readFile(templatePath('securenode.yml'), 'utf8'), 'the template, whole');
  t.equal((await stat(paths.configFile)).mode & 0o777, 0o640);
  t.equal((await stat(paths.configDir)).mode & 0o777, 0o700, "the mount point's own mode is left as the operator made it");
  t.same((await readdir(home)).sort(), ['config', 'data', 'logs']);

  // What a kill -9 in the middle of that write leaves (a temporary file) is still an empty config dir.
  await rm(paths.configFile);
  await writeFile(`${paths.configDir}/.securenode.yml.0a1b2c3d4e5f.tmp`, 'cluster.na');
  t.same(await ensureHome(paths), { kind: 'created' });
  t.equal(await readFile(paths.configFile, 'utf8'), await readFile(templatePath('securenode.yml'), 'utf8'));
});

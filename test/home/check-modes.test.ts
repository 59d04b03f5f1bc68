import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import t from 'tap';
import { checkModes, findModeProblems } from '../../src/home/check-modes.js';
import { homePaths } from '../../src/home/layout.js';

async function home(root: string) {
  const paths = homePaths(root);
  await mkdir(paths.certsDir, { recursive: true, mode: 0o750 });
  await mkdir(paths.dataDir, { recursive: true });
  for (const [path, mode] of [[paths.keystoreFile, 0o600], [`${paths.certsDir}/http.p12`, 0o600], [`${paths.certsDir}/http_ca.crt`, 0o640], [`${paths.dataDir}/security.json`, 0o600]] as const) {
    await writeFile(path, 'x');
    await chmod(path, mode);
  }
  await chmod(paths.certsDir, 0o750);
  return paths;
}

t.test('a home as auto-configuration writes it has no problem', async (t) => {
  const paths = await home(t.testdir());
  t.same(await findModeProblems(paths, { group: false }), []);
  await checkModes(paths, { group: false });
});

t.test('each wrong mode is named with its fix', async (t) => {
  const paths = await home(t.testdir());
  await chmod(paths.keystoreFile, 0o644);
  await chmod(`${paths.certsDir}/http.p12`, 0o640);
  await chmod(`${paths.certsDir}/http_ca.crt`, 0o644);
  await chmod(paths.certsDir, 0o755);
  t.same(await findModeProblems(paths, { group: false }), [
    { path: paths.keystoreFile, mode: 0o644, fix: `chmod 600 ${paths.keystoreFile}` },
    { path: paths.certsDir, mode: 0o755, fix: `chmod 750 ${paths.certsDir}` },
    { path: `${paths.certsDir}/http.p12`, mode: 0o640, fix: `chmod 600 ${paths.certsDir}/http.p12` },
    { path: `${paths.certsDir}/http_ca.crt`, mode: 0o644, fix: `chmod o-rwx ${paths.certsDir}/http_ca.crt` },
  ]);
  await t.rejects(checkModes(paths, { group: false }), {
    code: 'ERR_FILE_MODES',
    message: new RegExp(`^files that hold keys or secrets are readable by more than their owner: ${paths.keystoreFile} has mode 0644 \\(fix: chmod 600 ${paths.keystoreFile}\\); `),
  });
  t.same((await findModeProblems(paths, { group: true })).map((problem) => problem.path), [paths.keystoreFile, paths.certsDir, `${paths.certsDir}/http_ca.crt`], 'with node.group, 0640 is right for secrets');
});

t.test('each fix runs when pasted, also in a home whose path has spaces and quotes', async (t) => {
  const paths = await home(`${t.testdir()}/it's a home`);
  await chmod(paths.keystoreFile, 0o644);
  await chmod(paths.certsDir, 0o755);
  const problems = await findModeProblems(paths, { group: false });
  t.equal(problems.length, 2);
  for (const problem of problems) {
    t.equal((await execa('sh', ['-c', problem.fix], { reject: false })).exitCode, 0, problem.fix);
  }
  t.same(await findModeProblems(paths, { group: false }), [], 'the pasted fixes fixed it');
});

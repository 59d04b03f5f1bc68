import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { packTarball } from '../helpers/checkout-copy.js';

// A project that depends on the packed securenode, as a developer's would: only
// its dependencies installed (none of securenode's devDependencies, @types/pg
// among them), TypeScript strict and skipLibCheck off, so that every published
// declaration file is checked.
t.test('a strict TypeScript project compiles against the published package and runs it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'securenode-consumer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tarball = await packTarball(dir);
  const project = join(dir, 'app');
  await execa('mkdir', [project]);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', skipLibCheck: false, outDir: 'dist', types: ['node'] }, include: ['index.ts'] }),
  );
  await writeFile(
    join(project, 'index.ts'),
    [
      "import { autoConfigure, FileStore, generatePassword, isSecurenodeError, Keystore, loadSettings, openStore, PostgresStore, SecurenodeError, startNode, type AutoConfigureResult, type RunningNode } from 'securenode';",
      "import * as everything from 'securenode';",
      'const configure: (options: { home: string }) => Promise<AutoConfigureResult> = autoConfigure;',
      'const start: (...args: Parameters<typeof startNode>) => Promise<RunningNode> = startNode;',
      "const error = new SecurenodeError('ERR_CONFIG_SYNTAX', 'bad');",
      'console.log(JSON.stringify({ exports: Object.keys(everything).length, exitCode: error.exitCode, isError: isSecurenodeError(error), password: generatePassword().length, kinds: [configure, start, openStore, loadSettings, FileStore, PostgresStore, Keystore].map((value) => typeof value) }));',
      '',
    ].join('\n'),
  );
  const install = await execa('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, 'typescript@~5.9', '@types/node@^20'], { cwd: project, reject: false, all: true });
  t.equal(install.exitCode, 0, install.all);
  const compiled = await execa('npx', ['tsc', '-p', '.'], { cwd: project, reject: false, all: true });
  t.same([compiled.exitCode, compiled.all], [0, ''], 'tsc has nothing to say (no TS7016 for pg, no error in any published .d.ts)');
  const ran = await execa('node', ['dist/index.js'], { cwd: project, reject: false, all: true });
  t.equal(ran.exitCode, 0, ran.all);
  const { exports: _count, ...rest } = JSON.parse(ran.stdout) as Record<string, unknown>;
  t.same(rest, { exitCode: 78, isError: true, password: 20, kinds: ['function', 'function', 'function', 'function', 'function', 'function', 'function'] });
});

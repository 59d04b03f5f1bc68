import { readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import t from 'tap';
import { cleanEnv, securenodeBin } from '../helpers/cli.js';

// The command runs from the bundles scripts/bundle.mjs makes, not from tsc's
// ~150 files and their packages' files: that is most of its start time on
// Node 20. `start` and help load one ES module entry and its lazily loaded
// chunks; the tools, one CommonJS file with its code cache
// (test/io/code-cache.test.ts). A module loader hook lists every file the
// command loads as an ES module. The hooks run on a thread of their own, whose
// process.stderr is handed to the main thread to write: a command that exits at
// once (`certs --help`) could exit before it was, and a CI run once saw no line
// at all. So the hook writes to descriptor 2 itself, synchronously.
const checkout = fileURLToPath(new URL('../../../', import.meta.url));
const listing = "import { writeSync } from 'node:fs'; export async function load(url, context, next) { if (url.startsWith('file:')) writeSync(2, 'loaded ' + url + '\\n'); return next(url, context); }";
const hook = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(listing)}));`)}`;

async function loadedFiles(args: string[]): Promise<{ exitCode: number | undefined; stdout: string; files: string[] }> {
  const result = await execa(process.execPath, ['--import', hook, securenodeBin, ...args], { reject: false, extendEnv: false, env: cleanEnv(), encoding: 'utf8' });
  const files = result.stderr
    .split('\n')
    .filter((line) => line.startsWith('loaded file://'))
    .map((line) => fileURLToPath(line.slice('loaded '.length)).replace(checkout, ''));
  return { exitCode: result.exitCode, stdout: result.stdout, files };
}

t.test('the command and a lazily loaded command load only the bundle', async (t) => {
  const counts: number[] = [];
  for (const args of [['--version'], ['start', '--help']]) {
    const { exitCode, stdout, files } = await loadedFiles(args);
    t.equal(exitCode, 0, `securenode ${args.join(' ')} exits 0`);
    t.not(stdout, '', 'and prints');
    t.equal(files[0], 'bin/securenode', 'the command starts at bin/securenode');
    t.equal(files[1], 'dist/src/bundle/main.js', 'then the bundle');
    t.same(
      // jsonc-parser stays outside by design (scripts/bundle.mjs): its UMD build requires its own files.
      files.slice(1).filter((file) => !/^dist\/src\/bundle\/chunk-[A-Z0-9]+\.js$/.test(file) && file !== 'dist/src/bundle/main.js' && !file.startsWith('node_modules/jsonc-parser/')),
      [],
      `nothing outside the bundle but jsonc-parser: not tsc's files, not other packages (securenode ${args.join(' ')})`,
    );
    counts.push(files.length);
  }
  t.ok(counts[1]! > counts[0]!, 'a command loads its own chunks on demand');
});

t.test("the start's chunks leave out what a node never runs: Ajv (compiled at build time) and fastify's default compilers", async (t) => {
  const bundle = fileURLToPath(new URL('../../src/bundle/', import.meta.url));
  const chunks = (await readdir(bundle)).filter((name) => name.endsWith('.js'));
  t.ok(chunks.length > 5, `the bundle's ${chunks.length} files`);
  // esbuild names each bundled CommonJS file by its path: a package's entry in a chunk means its code went in.
  for (const left of ['ajv/dist/ajv.js', 'ajv/dist/core.js', '@fastify/ajv-compiler/index.js', '@fastify/fast-json-stringify-compiler/index.js', 'fast-json-stringify/index.js']) {
    const holding = [];
    for (const name of chunks) if ((await readFile(`${bundle}${name}`, 'utf8')).includes(`node_modules/${left}"(`)) holding.push(name);
    t.same(holding, [], `no chunk holds node_modules/${left}`);
  }
  const fastify = [];
  for (const name of chunks) if ((await readFile(`${bundle}${name}`, 'utf8')).includes('node_modules/fastify/fastify.js"(')) fastify.push(name);
  t.equal(fastify.length, 1, 'while fastify is in (the names are read as esbuild writes them)');
});

t.test('the tools load no ES module: they run from the CommonJS bundle', async (t) => {
  for (const args of [['certs', '--help'], ['keystore', '--help'], ['create-enrollment-token', '--help']]) {
    const { exitCode, stdout, files } = await loadedFiles(args);
    t.equal(exitCode, 0, `securenode ${args.join(' ')} exits 0`);
    t.match(stdout, /^Usage: securenode /, 'and prints its help');
    t.same(files, ['bin/securenode'], 'nothing but the command itself goes through the ES module loader');
  }
});

t.test('building again while commands run from the checkout leaves every file of an unchanged bundle as it was', async (t) => {
  // `npm start` builds while other commands may be loading the bundle: a file removed or rewritten meanwhile broke them.
  const dir = `${checkout}dist/src/bundle`;
  const files = async () => new Map(await Promise.all((await readdir(dir)).map(async (name) => [name, await stat(`${dir}/${name}`)] as const)));
  const before = await files();
  const built = await execa(process.execPath, [`${checkout}scripts/bundle.mjs`], { reject: false, cwd: checkout });
  t.equal(built.exitCode, 0, `the bundle builds: ${built.stderr}`);
  const after = await files();
  t.same([...after.keys()].sort(), [...before.keys()].sort(), 'the same files');
  t.same(
    [...after].filter(([name, file]) => file.ino !== before.get(name)?.ino || file.mtimeMs !== before.get(name)?.mtimeMs).map(([name]) => name),
    [],
    'none replaced or rewritten',
  );
});

t.test("a build removes an older build's files and a temporary file a killed build left, not one being written", async (t) => {
  const dir = `${checkout}dist/src/bundle`;
  const old = new Date(Date.now() - 3_600_000);
  await writeFile(`${dir}/chunk-OLDBUILD.js`, 'export {};\n');
  await writeFile(`${dir}/.chunk-KILLED.js.0123456789ab.tmp`, 'half');
  await utimes(`${dir}/.chunk-KILLED.js.0123456789ab.tmp`, old, old);
  await writeFile(`${dir}/.chunk-WRITING.js.0123456789ab.tmp`, 'half');
  t.teardown(() => rm(`${dir}/.chunk-WRITING.js.0123456789ab.tmp`, { force: true }));
  const built = await execa(process.execPath, [`${checkout}scripts/bundle.mjs`], { reject: false, cwd: checkout });
  t.equal(built.exitCode, 0, `the bundle builds: ${built.stderr}`);
  const names = await readdir(dir);
  t.notOk(names.includes('chunk-OLDBUILD.js'), "an older build's chunk is gone");
  t.notOk(names.includes('.chunk-KILLED.js.0123456789ab.tmp'), 'a temporary file from an hour ago is gone');
  t.ok(names.includes('.chunk-WRITING.js.0123456789ab.tmp'), "a fresh one, another build's write in progress, stays");
});

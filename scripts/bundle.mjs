// The securenode command as a few bundled files (dist/src/bundle/), built from
// tsc's output by esbuild. Node 20 spends most of a tool's and a first start's
// time resolving and loading hundreds of ES and CommonJS modules one by one (it
// has no compile cache): from one entry and its lazily loaded chunks, a first
// start to its first answer takes about a third less, a tool about a fifth.
// The library (dist/src/index.js) is not bundled: a server that embeds it
// loads its modules as usual.
//
// Left outside: native bindings (argon2), the database driver and the cloud
// SDKs (each loaded only when a setting asks for it), jsonc-parser (its
// UMD build requires its own files at run time), and Ajv with fastify's
// default schema compilers (loaded only for a schema not compiled at build
// time: a node of its own never loads them).
// The bundle sits at the same depth under dist/src as tsc's files, so the
// paths the code takes from import.meta.url (templates/, console/, bin/) hold.
//
// The companion tools (every command but `start`) run from a second bundle,
// tools.cjs: CommonJS, in one file, with the V8 code cache that a run of the
// tools on a scratch home leaves (scripts/tools-code-cache.mjs, read by
// src/io/code-cache.cts). Node 20 caches no compiled code of its own, and the
// tools spent about a third of their time compiling. `start` stays on the ES
// module bundle: it loads the server, which the tools' bundle leaves out.
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { isLeftover, writeFileAtomic } from '../dist/src/io/atomic-write.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/src/bundle`;

const shared = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['@node-rs/*', 'pg', '@aws-sdk/*', '@azure/*', '@google-cloud/*', 'jsonc-parser'],
  logLevel: 'warning',
  // Fewer bytes for V8 to scan and compile at each run (Node 20 caches no compiled ES module): measured,
  // alternating with the unminified bundle, importing a tool's modules 53 -> 45 ms (medians of 12).
  // Names stay as written (no minifyIdentifiers): keepNames, which renaming would need, cost more than it saved.
  minifyWhitespace: true,
  minifySyntax: true,
  write: false,
};

const modules = await build({
  ...shared,
  // Fastify loads its own schema compilers only when a node has none; the node always sets its own (server.ts), and
  // left in, their 110 KB (fast-json-stringify with its helpers) were parsed at every start. Fastify still finds them
  // installed beside it, should an embedding server ask.
  external: [...shared.external, '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'],
  entryPoints: { main: `${root}dist/src/cli/main.js` },
  outdir,
  splitting: true,
  format: 'esm',
  // Bundled CommonJS packages call require() for Node's own modules.
  banner: { js: "import { createRequire as __securenodeRequire } from 'node:module'; const require = __securenodeRequire(import.meta.url);" },
  chunkNames: 'chunk-[hash]',
});

const tools = await build({
  ...shared,
  entryPoints: { tools: `${root}dist/src/cli/main.js` },
  outdir,
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // A script has no import(): each import() becomes a require(), which loads the external packages' CommonJS builds.
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__securenodeModuleUrl' },
  banner: { js: "const __securenodeModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  // bin/securenode never hands `start` to this bundle: its module, and the server it loads, stay out.
  plugins: [
    {
      name: 'start-left-out',
      setup(build) {
        build.onResolve({ filter: /\/start-command\.js$/ }, () => ({ path: 'start-command', namespace: 'left-out' }));
        build.onLoad({ filter: /.*/, namespace: 'left-out' }, () => ({
          contents: "export function registerStartCommand() { throw new Error('securenode start runs from the ES module bundle (bin/securenode)'); }",
        }));
      },
    },
  ],
});
const [toolsFile] = tools.outputFiles;
// Read as Latin-1 by src/io/code-cache.cts: that is the same text only while every byte is ASCII (esbuild's default charset).
if (toolsFile.contents.some((byte) => byte > 0x7f)) throw new Error(`${toolsFile.path} holds a byte outside ASCII`);
const outputFiles = [...modules.outputFiles, toolsFile];

// Written in place, never emptied first: a command already running from this
// checkout (a test beside `npm start`, which builds) must find every file whole.
// A file whose bytes are the same stays as it is; a changed one is replaced
// atomically; files of an older build go last.
await mkdir(outdir, { recursive: true });
const written = new Set();
for (const file of outputFiles) {
  const contents = Buffer.from(file.contents);
  written.add(file.path);
  const current = await readFile(file.path).catch(() => undefined);
  if (current === undefined || !current.equals(contents)) await writeFileAtomic(file.path, contents, 0o644);
}

// The tools' code cache, made by a process of its own (fresh V8 state, no NODE_OPTIONS). Without one the tools
// still run, compiling as they did before: say so, and go on.
const cacheFile = `${toolsFile.path}.cache`;
written.add(cacheFile);
const scratch = await mkdtemp(join(tmpdir(), 'securenode-bundle-'));
try {
  const { NODE_OPTIONS, ...env } = process.env;
  await promisify(execFile)(process.execPath, [`${root}scripts/tools-code-cache.mjs`, toolsFile.path, cacheFile, `${scratch}/cache`], { env, timeout: 120_000 });
  // None written: the current one is taken for this bundle, and stays.
  const cache = await readFile(`${scratch}/cache`).catch(() => undefined);
  if (cache !== undefined) await writeFileAtomic(cacheFile, cache, 0o644);
} catch (error) {
  process.stderr.write(`bundle: the tools run without a code cache (${String(error.stderr || error.message).trim()})\n`);
  await rm(cacheFile, { force: true });
} finally {
  await rm(scratch, { recursive: true, force: true });
}

// A temporary file is another build's write in progress, unless it is older than any build takes (one killed midway).
for (const name of await readdir(outdir)) {
  const path = join(outdir, name);
  if (written.has(path)) continue;
  if (!isLeftover(name) || Date.now() - (await stat(path).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > 600_000) await rm(path, { force: true });
}

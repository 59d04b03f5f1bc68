// The securenode command as a few bundled files (dist/src/bundle/), built from
// tsc's output by esbuild. Node 20 spends most of a tool's and a first start's
// time resolving and loading hundreds of ES and CommonJS modules one by one (it
// has no compile cache): from one entry and its lazily loaded chunks, a first
// start to its first answer takes about a third less, a tool about a fifth.
// The library (dist/src/index.js) is not bundled: a server that embeds it
// loads its modules as usual.
//
// Left outside: native bindings (argon2), the database driver and the cloud
// SDKs (each loaded only when a setting asks for it), and jsonc-parser (its
// UMD build requires its own files at run time).
// The bundle sits at the same depth under dist/src as tsc's files, so the
// paths the code takes from import.meta.url (templates/, console/, bin/) hold.
import { build } from 'esbuild';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isLeftover, writeFileAtomic } from '../dist/src/io/atomic-write.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/src/bundle`;

const { outputFiles } = await build({
  entryPoints: { main: `${root}dist/src/cli/main.js` },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@node-rs/*', 'pg', '@aws-sdk/*', '@azure/*', '@google-cloud/*', 'jsonc-parser'],
  // Bundled CommonJS packages call require() for Node's own modules.
  banner: { js: "import { createRequire as __securenodeRequire } from 'node:module'; const require = __securenodeRequire(import.meta.url);" },
  chunkNames: 'chunk-[hash]',
  logLevel: 'warning',
  // Fewer bytes for V8 to scan and compile at each run (Node 20 caches no compiled ES module): measured,
  // alternating with the unminified bundle, importing a tool's modules 53 -> 45 ms (medians of 12).
  // Names stay as written (no minifyIdentifiers): keepNames, which renaming would need, cost more than it saved.
  minifyWhitespace: true,
  minifySyntax: true,
  write: false,
});

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
// A temporary file is another build's write in progress, unless it is older than any build takes (one killed midway).
for (const name of await readdir(outdir)) {
  const path = join(outdir, name);
  if (written.has(path)) continue;
  if (!isLeftover(name) || Date.now() - (await stat(path).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > 600_000) await rm(path, { force: true });
}

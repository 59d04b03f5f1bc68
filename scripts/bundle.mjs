// The securenode command as a few bundled files (dist/src/bundle/), built from
// tsc's output by esbuild. Node 20 spends most of a tool's and a first start's
// time resolving and loading ~500 ES and CommonJS modules one by one (it has no
// compile cache): one entry and its lazily loaded chunks start ~30% faster.
// The library (dist/src/index.js) is not bundled: a server that embeds it
// loads its modules as usual.
//
// Left outside: native bindings (argon2), the database driver and the cloud
// SDKs (each loaded only when a setting asks for it), and jsonc-parser (its
// UMD build requires its own files at run time).
// The bundle sits at the same depth under dist/src as tsc's files, so the
// paths the code takes from import.meta.url (templates/, console/, bin/) hold.
import { decode, encode } from '@jridgewell/sourcemap-codec';
import { build } from 'esbuild';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../dist/src/io/atomic-write.js';

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
  // Source maps, through tsc's own, to src/: what a test's child process covers counts for the TypeScript it came from
  // (tap measures child processes too). Without the sources' text: the maps stay small.
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
  write: false,
});

// The maps keep only our own sources. tap drops a child's coverage of a whole
// file when any of its sources lies in node_modules, and most chunks hold some
// package code: the packages' segments become unmapped ones (a segment of one
// field), so a chunk's coverage counts for src/ and none is made up for them.
function ownSourcesOnly(text) {
  const map = JSON.parse(text);
  const renumbered = []; // a source's index in the map as written, by its index in esbuild's; none for a package's
  const sources = [];
  map.sources.forEach((source, at) => {
    if (!source.includes('node_modules/')) renumbered[at] = sources.push(source) - 1;
  });
  const lines = decode(map.mappings).map((segments) =>
    segments.map((segment) => {
      if (segment.length === 1) return segment;
      const at = renumbered[segment[1]];
      return at === undefined ? [segment[0]] : [segment[0], at, ...segment.slice(2)];
    }),
  );
  return JSON.stringify({ ...map, sources, mappings: encode(lines) });
}

// Written in place, never emptied first: a command already running from this
// checkout (a test beside `npm start`, which builds) must find every file whole.
// A file whose bytes are the same stays as it is; a changed one is replaced
// atomically; files of an older build go last.
await mkdir(outdir, { recursive: true });
const written = new Set();
for (const file of outputFiles) {
  const contents = file.path.endsWith('.map') ? Buffer.from(ownSourcesOnly(file.text)) : Buffer.from(file.contents);
  written.add(file.path);
  const current = await readFile(file.path).catch(() => undefined);
  if (current === undefined || !current.equals(contents)) await writeFileAtomic(file.path, contents, 0o644);
}
for (const name of await readdir(outdir)) {
  if (!written.has(join(outdir, name)) && !name.endsWith('.tmp')) await rm(join(outdir, name), { force: true });
}

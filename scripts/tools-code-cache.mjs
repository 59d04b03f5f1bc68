// Run by scripts/bundle.mjs in a process of its own: load the tools' bundle,
// run the companion tools once on a scratch home, and write the code V8
// compiled meanwhile (the bundle's, and each function the tools called) to the
// file named, framed for the bundle's bytes (src/io/code-cache.cts). A cache
// that this Node already takes for these bytes is kept: V8's output differs from
// run to run, and a build that changes nothing rewrites nothing.
//
// The scratch home holds the shipped securenode.yml and a keystore the run
// creates; no node runs, so the tools that ask one stop before any connection
// (enrollment is off in that file), and reset-password takes its offline path
// on a store without the user. What they print is dropped. The process starts
// with no NODE_OPTIONS: V8 takes a cache only under the flags it was made with,
// and a tool runs without any.
//
//   node scripts/tools-code-cache.mjs BUNDLE CURRENT-CACHE CACHE-OUT
// Exits 0 having written CACHE-OUT, or having kept CURRENT-CACHE (nothing written).
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const [bundle, current, out] = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const { loadBundle } = createRequire(import.meta.url)(`${root}dist/src/io/code-cache.cjs`);

const loaded = loadBundle(bundle, current);
if (loaded.cache === 'used') process.exit(0);
const home = await mkdtemp(join(tmpdir(), 'securenode-tools-training-'));
try {
  await mkdir(join(home, 'config'), { mode: 0o750 });
  await copyFile(`${root}templates/securenode.yml`, join(home, 'config', 'securenode.yml'));
  const io = () => ({
    stdout: new Writable({ write: (_chunk, _encoding, callback) => callback() }),
    stderr: new Writable({ write: (_chunk, _encoding, callback) => callback() }),
    stdin: Readable.from([]),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  const runs = [
    ['keystore', 'create', '--home', home],
    ['keystore', 'list', '--home', home],
    ['create-enrollment-token', '-s', 'node', '--home', home],
    ['reset-password', '-u', 'elastic', '-b', '-s', '--home', home],
  ];
  const codes = [];
  for (const argv of runs) codes.push(await loaded.exports.run(argv, io()));
  // The keystore's two must succeed: otherwise the tools did not run as they do for an operator.
  if (codes[0] !== 0 || codes[1] !== 0) throw new Error(`the tools did not run on the scratch home (exit codes ${codes.join(', ')})`);
  await writeFile(out, loaded.codeCache(), { mode: 0o644 });
} finally {
  await rm(home, { recursive: true, force: true });
}

import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { commandNames } from '../../src/cli/main.js';
import { securenodeBin } from '../helpers/cli.js';

const checkout = fileURLToPath(new URL('../../../', import.meta.url));
const codeCacheModule = `${checkout}dist/src/io/code-cache.cjs`;
const toolsBundle = `${checkout}dist/src/bundle/tools.cjs`;

/**
 * In a new process with no NODE_OPTIONS, as a tool starts (within one process V8 hands a script it compiled before
 * back from memory, whatever cache is offered): load `bundle` with `cache` and say what became of the cache and what
 * the bundle answers; or, with `make`, run it once and write the cache it leaves; or, with `v8`, offer V8 the cache's
 * data without the header and say whether V8 takes it.
 */
async function inNewProcess(mode: 'load' | 'make' | 'v8', bundle: string, cache: string): Promise<{ cache?: string; answer?: unknown; rejected?: boolean }> {
  const script = `
    const { readFileSync, writeFileSync } = require('node:fs');
    const [mode, bundle, cache] = process.argv.slice(1);
    const answer = (exports) => (typeof exports.answer === 'function' ? exports.answer() : typeof exports.run);
    if (mode === 'v8') {
      const script = new (require('node:vm').Script)(require('node:module').wrap(readFileSync(bundle, 'latin1')), { filename: bundle, cachedData: readFileSync(cache).subarray(${headerLength}) });
      console.log(JSON.stringify({ rejected: script.cachedDataRejected }));
    } else {
      const loaded = require(${JSON.stringify(codeCacheModule)}).loadBundle(bundle, mode === 'load' ? cache : undefined);
      const said = answer(loaded.exports);
      if (mode === 'make') writeFileSync(cache, loaded.codeCache());
      console.log(JSON.stringify({ cache: loaded.cache, answer: said }));
    }`;
  const result = await execa(process.execPath, ['-e', script, mode, bundle, cache], { extendEnv: false, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  return JSON.parse(result.stdout) as { cache?: string; answer?: unknown; rejected?: boolean };
}
const headerLength = 'securenode-code-cache-1\n'.length + 32;
const loadInProcess = (bundle: string, cache: string) => inNewProcess('load', bundle, cache);

async function scratch(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'securenode-code-cache-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A bundle whose answer() returns `word`, and the cache a run of it leaves. */
async function bundleWithCache(dir: string, name: string, word: string): Promise<{ file: string; cache: string }> {
  const file = join(dir, `${name}.cjs`);
  await writeFile(file, `'use strict';\nexports.answer = function answer() { return ${JSON.stringify(word)}; };\n`);
  const cache = `${file}.cache`;
  await inNewProcess('make', file, cache);
  return { file, cache };
}

t.test("the build's cache is used for the build's bundle, by a process started as a tool starts", async (t) => {
  const { cache, answer } = await loadInProcess(toolsBundle, `${toolsBundle}.cache`);
  t.equal(cache, 'used', 'V8 takes the code the build saved');
  t.equal(answer, 'function', 'and the bundle exports run');
  // V8 saves compiled functions and the constants of their source, not values made while they ran: the training's
  // scratch home (in every path the tools touched there), its keys and passwords stay out.
  t.notOk((await readFile(`${toolsBundle}.cache`)).includes('securenode-tools-training-'), "the scratch home's path is nowhere in it");
});

t.test('without a cache, or with a torn one, the bundle is compiled from source and runs', async (t) => {
  const dir = await scratch(t);
  await copyFile(toolsBundle, join(dir, 'tools.cjs'));
  t.same(await loadInProcess(join(dir, 'tools.cjs'), join(dir, 'tools.cjs.cache')), { cache: 'absent', answer: 'function' });
  // One that cannot be read is no cache either, not a failure of the command.
  await mkdir(join(dir, 'tools.cjs.cache'));
  t.same(await loadInProcess(join(dir, 'tools.cjs'), join(dir, 'tools.cjs.cache')), { cache: 'absent', answer: 'function' }, 'a directory in its place');
  await rm(join(dir, 'tools.cjs.cache'), { recursive: true });
  const whole = await readFile(`${toolsBundle}.cache`);
  // A write cut short leaves a prefix: the header alone, or part of V8's data.
  await writeFile(join(dir, 'tools.cjs.cache'), whole.subarray(0, 56));
  t.same(await loadInProcess(join(dir, 'tools.cjs'), join(dir, 'tools.cjs.cache')), { cache: 'mismatch', answer: 'function' }, 'a header alone');
  await writeFile(join(dir, 'tools.cjs.cache'), whole.subarray(0, Math.floor(whole.length / 2)));
  t.same(await loadInProcess(join(dir, 'tools.cjs'), join(dir, 'tools.cjs.cache')), { cache: 'rejected', answer: 'function' }, "half of V8's data: V8 refuses it");
});

const letter = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789 ');
const sameLengthWords = fc.integer({ min: 1, max: 40 }).chain((length) => fc.tuple(fc.string({ unit: letter, minLength: length, maxLength: length }), fc.string({ unit: letter, minLength: length, maxLength: length })));

t.test("a cache made for other bytes of the same length is never used, though V8's own check would take it", async (t) => {
  const dir = await scratch(t);
  await fc.assert(
    fc.asyncProperty(sameLengthWords, async ([first, second]) => {
      fc.pre(first !== second);
      const a = await bundleWithCache(dir, 'a', first);
      const b = await bundleWithCache(dir, 'b', second);
      // b's bytes with a's cache: what a build that replaced the bundle, but not yet its cache, leaves.
      await copyFile(a.cache, b.cache);
      t.same(await loadInProcess(b.file, b.cache), { cache: 'mismatch', answer: second }, "b's code runs");
      // The reason for the digest: V8 compares the source's length only, and would run a's code for b.
      t.same(await inNewProcess('v8', b.file, b.cache), { rejected: false }, "V8 alone takes a's code for b");
    }),
    { numRuns: 8 },
  );
});

t.test('hostile cache files: the bundle runs from source, whatever the file holds', async (t) => {
  const dir = await scratch(t);
  const { file, cache } = await bundleWithCache(dir, 'c', 'mine');
  const genuine = await readFile(cache);
  const header = genuine.subarray(0, headerLength - 32);
  const digest = createHash('sha256').update(await readFile(file)).digest();
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)),
        // The right header and digest, then anything: V8 checks what follows.
        fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.concat([header, digest, bytes])),
        // The genuine file cut anywhere.
        fc.nat(genuine.length - 1).map((length) => genuine.subarray(0, length)),
      ),
      async (bytes) => {
        await writeFile(cache, bytes);
        const loaded = await loadInProcess(file, cache);
        t.not(loaded.cache, 'used');
        t.equal(loaded.answer, 'mine');
      },
    ),
    { numRuns: 30 },
  );
  await writeFile(cache, genuine);
  t.same(await loadInProcess(file, cache), { cache: 'used', answer: 'mine' }, 'and the genuine one is used');
});

t.test("bin/securenode hands exactly the tools to the tools' bundle", async (t) => {
  const listed = /const tools = (\[[^\]]*\]);/.exec(await readFile(securenodeBin, 'utf8'));
  t.ok(listed, 'bin/securenode lists the tools');
  t.same(JSON.parse(listed![1]!.replaceAll("'", '"')), commandNames.filter((name) => name !== 'start'), 'every command word but start, as cli/main.ts has them');
});

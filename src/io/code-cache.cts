// A CommonJS bundle run with the V8 code cache that the build made for it.
// Node 20 caches no compiled code between runs (module.enableCompileCache came
// in Node 22), so each run of a tool compiled its modules again, and every
// function it called for the first time. The companion tools run from one
// CommonJS bundle (scripts/bundle.mjs) whose compiled code the build saves once,
// after running the tools on a scratch home; a run then starts from that code.
//
// CommonJS because only a script takes a code cache without an experimental
// flag (vm.Script's cachedData); an ES module has none on Node 20.
//
// Trust: the cache is V8's compiled code, as trusted as the bundle beside it.
// It is only ever read from the bundle's own directory, written there by the
// build (never at run time, never from a shared place such as the temporary
// directory), and used only when its header names the SHA-256 of the bundle
// read in the same run: V8's own check compares the source's length only, and a
// cache paired with another build's bundle would run the wrong code. Anything
// else (no cache, another build's, another Node's or other V8 flags, which V8
// rejects) compiles the bundle from source, as without a cache.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire, wrap } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/** The first bytes of a cache file, before the bundle's SHA-256 and V8's data. */
const magic = Buffer.from('securenode-code-cache-1\n');
const digestLength = 32;

/** What became of the cache: used; absent (or unreadable); a mismatch (not a whole header, or made for other bytes); or refused by V8 (another Node, other flags, torn data). */
export type CacheUse = 'used' | 'absent' | 'mismatch' | 'rejected';

export interface LoadedBundle {
  /** The bundle's module.exports. */
  readonly exports: Record<string, unknown>;
  readonly cache: CacheUse;
  /** V8's code for the bundle and every function compiled so far, framed for `file`'s bytes: what the build saves. */
  codeCache(): Buffer;
}

function digest(source: Buffer): Buffer {
  return createHash('sha256').update(source).digest();
}

/** The V8 data in `framed` when it was made for `source`, else undefined. */
function cachedDataFor(framed: Buffer | undefined, source: Buffer): Buffer | undefined {
  if (framed === undefined || framed.length <= magic.length + digestLength) return undefined;
  if (!framed.subarray(0, magic.length).equals(magic)) return undefined;
  if (!framed.subarray(magic.length, magic.length + digestLength).equals(digest(source))) return undefined;
  return framed.subarray(magic.length + digestLength);
}

/** The cache file's bytes; none when it cannot be read (absent, a directory, not this user's to read): the tools run without it. */
function readIfThere(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Run the CommonJS bundle `file` as Node's loader would (module, require,
 * __filename), with the code cache in `cacheFile` when it was made for these
 * bytes (none given: compiled from source, as the build's own run does). The
 * bundle is read as Latin-1: esbuild writes ASCII (the build checks it), and
 * Latin-1 makes the same string without decoding UTF-8.
 */
export function loadBundle(file: string, cacheFile?: string): LoadedBundle {
  const bytes = readFileSync(file);
  const framed = cacheFile === undefined ? undefined : readIfThere(cacheFile);
  const cachedData = cachedDataFor(framed, bytes);
  const script = new Script(wrap(bytes.toString('latin1')), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const cache: CacheUse = cachedData === undefined ? (framed === undefined ? 'absent' : 'mismatch') : script.cachedDataRejected ? 'rejected' : 'used';
  const module = { exports: {} as Record<string, unknown> };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return {
    exports: module.exports,
    cache,
    codeCache: () => Buffer.concat([magic, digest(bytes), script.createCachedData()]),
  };
}

import { PassThrough, Readable } from 'node:stream';
import type { CliIo } from '../../src/cli/io.js';

/** A CliIo in memory: what a command writes is kept; stdin is the given text, no terminal. */
export function memoryIo(env: NodeJS.ProcessEnv = {}, input = '') {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const io: CliIo = { stdout, stderr, stdin: Readable.from(input ? [Buffer.from(input)] : []), env };
  return { io, stdout: () => out, stderr: () => err };
}

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCertificate } from '../../src/pki/certificate.js';
import { generateKeyPairFor } from '../../src/pki/keys.js';
import { nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';

function tlsAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    request({ host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode === 401);
    })
      .on('error', () => resolve(false))
      .end();
  });
}

/**
 * Milliseconds from spawning `securenode start` on a fresh home (output
 * redirected, as the unprivileged user when run as root) to its first TLS
 * answer, and the node's peak memory by then (VmHWM).
 */
export async function firstStartToTls(): Promise<{ ms: number; peakMb: number }> {
  const cleanups: (() => unknown)[] = [];
  try {
    const home = `${await nodeOwnedDir({ teardown: (fn) => cleanups.push(fn) })}/home`;
    const started = performance.now();
    const node = await startNodeProcess(home, { terminal: false });
    cleanups.push(() => node.signal('SIGKILL'));
    const port = await node.httpPort(60_000);
    while (!(await tlsAnswers(port))) await new Promise((resolve) => setTimeout(resolve, 5));
    const elapsed = performance.now() - started;
    const status = await readFile(`/proc/${node.child.pid!}/status`, 'utf8');
    const peakMb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)![1]) / 1024;
    await node.stop();
    return { ms: elapsed, peakMb };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

/**
 * The reference for the first start: milliseconds from spawning a bare Node
 * https server (a P-256 certificate made beforehand, no home, no keystore) to
 * its first TLS answer, measured the same way.
 */
export async function bareHttpsStartToTls(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'securenode-bench-bare-'));
  try {
    const { privateKey, publicKey } = await generateKeyPairFor({ type: 'ec' });
    const certificate = issueCertificate({ commonName: 'localhost', profile: 'ca', validityDays: 1, privateKey, publicKey });
    await writeFile(join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await writeFile(join(dir, 'cert.pem'), certificate.certificate.toString());
    const script = [
      "const { readFileSync } = require('node:fs');",
      `const options = { key: readFileSync(${JSON.stringify(join(dir, 'key.pem'))}), cert: readFileSync(${JSON.stringify(join(dir, 'cert.pem'))}) };`,
      "const server = require('node:https').createServer(options, (request, response) => { response.statusCode = 401; response.end(); });",
      "server.listen(0, '127.0.0.1', () => console.log(server.address().port));",
    ].join('\n');
    const started = performance.now();
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim())));
        child.once('exit', () => reject(new Error('the bare server exited')));
      });
      while (!(await tlsAnswers(port))) await new Promise((resolve) => setTimeout(resolve, 5));
      return performance.now() - started;
    } finally {
      child.kill('SIGKILL');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

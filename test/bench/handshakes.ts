import { generateKeyPairSync, sign } from 'node:crypto';
import { connect } from 'node:tls';
import { cpuDuring } from '../helpers/cpu.js';
import { serve } from './keep-alive.js';

/** Full TLS handshakes per second against `port` for `seconds`: 32 clients, each closing at once and starting over, no resumption. */
async function handshakesPerSecond(port: number, seconds: number): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  const client = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, () => {
          count++;
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      });
    }
  };
  await Promise.all(Array.from({ length: 32 }, client));
  return count / seconds;
}

/** ECDSA P-256 signatures per second on one core (the node's certificates are P-256 by default): the bound of a TLS server's full handshakes on one event loop. */
function p256SignsPerSecond(): number {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.alloc(32);
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < 1000) {
    sign('sha256', data, privateKey);
    count++;
  }
  return count / ((performance.now() - started) / 1000);
}

/**
 * New TLS connections per second on the node's HTTP certificate, against a
 * bare https server with the same key and certificate, alternately in the same
 * run, and the one-core P-256 signing rate that bounds both.
 */
export async function handshakeRates(
  home: string,
  rounds: number,
  seconds: number,
): Promise<{ node: number[]; bare: number[]; ratio: number[]; nodeCpuMicros: number[]; bareCpuMicros: number[]; signLimit: number[] }> {
  const node = await serve('node', home, 'bench-password-1');
  const bare = await serve('bare', home, 'bench-password-1');
  const samples = { node: [] as number[], bare: [] as number[], ratio: [] as number[], nodeCpuMicros: [] as number[], bareCpuMicros: [] as number[], signLimit: [] as number[] };
  // The server's CPU per handshake, from /proc.
  const measured = async (server: { port: number; pid: number }) => {
    const { result: rate, ms } = await cpuDuring(server.pid, () => handshakesPerSecond(server.port, seconds));
    return { rate, cpuMicros: (ms * 1000) / (rate * seconds) };
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const onNode = await measured(node);
      const onBare = await measured(bare);
      samples.node.push(onNode.rate);
      samples.bare.push(onBare.rate);
      samples.ratio.push(onNode.rate / onBare.rate);
      samples.nodeCpuMicros.push(onNode.cpuMicros);
      samples.bareCpuMicros.push(onBare.cpuMicros);
      samples.signLimit.push(p256SignsPerSecond());
    }
  } finally {
    node.stop();
    bare.stop();
  }
  return samples;
}

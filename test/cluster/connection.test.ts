import { createServer, connect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import t, { type Test } from 'tap';
import { Connection, maxFrameBytes } from '../../src/cluster/connection.js';

/** Two ends of a loopback TCP connection (the framing does not care whether TLS is under it). */
async function pair(t: Test): Promise<[Socket, Socket]> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  return [client, await accepted];
}

t.test('requests are answered by id, errors come back as errors, events need no answer', async (t) => {
  const [a, b] = await pair(t);
  const client = new Connection(a as unknown as TLSSocket);
  const server = new Connection(b as unknown as TLSSocket);
  const events: unknown[] = [];
  server.onRequest = async (method, body) => {
    if (method === 'slow') await new Promise((resolve) => setTimeout(resolve, 30));
    if (method === 'fail') throw new Error('no such thing');
    return { method, body };
  };
  server.onEvent = (method, body) => events.push([method, body]);
  const [slow, fast] = await Promise.all([client.request('slow', 1, 1000), client.request('fast', 2, 1000)]);
  t.same([slow, fast], [{ method: 'slow', body: 1 }, { method: 'fast', body: 2 }], 'answers in any order reach their request');
  await t.rejects(client.request('fail', {}, 1000), { message: 'no such thing' });
  client.event('hello', { n: 1 });
  await t.rejects(new Connection(a as unknown as TLSSocket).request('x', {}, 1), /no answer within 1 ms/, 'a request without an answer times out');
  const deadline = Date.now() + 2_000;
  while (events.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  t.same(events, [['hello', { n: 1 }]]);
  client.close();
  server.close();
});

t.test('a malformed or oversized frame closes the connection, and waiting requests fail', async (t) => {
  for (const bad of [Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('{nope')]), Buffer.from([0xff, 0xff, 0xff, 0xff])]) {
    const [a, b] = await pair(t);
    const connection = new Connection(a as unknown as TLSSocket);
    const waiting = connection.request('x', {}, 5000);
    let closed = false;
    connection.onClose(() => (closed = true));
    b.write(bad);
    await t.rejects(waiting, { message: 'the connection closed' });
    t.ok(closed && connection.closed, `closed on ${bad.readUInt32BE(0) > maxFrameBytes ? 'an oversized' : 'a malformed'} frame`);
    await t.rejects(connection.request('y', {}, 10), { message: 'y: the connection is closed' });
    b.destroy();
  }
});

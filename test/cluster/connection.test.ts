import { EventEmitter } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { Connection, JsonText, maxFrameBytes } from '../../src/cluster/connection.js';

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

t.test('frames cut anywhere, a character split between chunks, come out whole and in order; a serialized body goes as it is', async (t) => {
  /** A socket whose writes are kept, and whose chunks a test hands in where it likes. */
  const fakeSocket = () => Object.assign(new EventEmitter(), { written: [] as Buffer[], write(chunk: Buffer) { this.written.push(chunk); return true; }, destroy() {} });
  const body = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.jsonValue({ maxDepth: 3 }));
  fc.assert(
    fc.property(fc.array(fc.tuple(body, fc.boolean()), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (messages, cuts) => {
      const out = fakeSocket();
      const sender = new Connection(out as unknown as TLSSocket);
      messages.forEach(([value, serialized], index) => sender.event(`m${index}`, serialized ? new JsonText(JSON.stringify(value) ?? 'null') : value));
      const bytes = Buffer.concat(out.written);
      const received: unknown[] = [];
      const into = fakeSocket();
      const receiver = new Connection(into as unknown as TLSSocket);
      receiver.onEvent = (method, value) => received.push([method, value]);
      const at = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((x, y) => x - y);
      [0, ...at].forEach((start, index) => into.emit('data', bytes.subarray(start, at[index] ?? bytes.length)));
      return !receiver.closed && JSON.stringify(received) === JSON.stringify(messages.map(([value], index) => [`m${index}`, JSON.parse(JSON.stringify(value) ?? 'null')]));
    }),
    { numRuns: 500 },
  );
});

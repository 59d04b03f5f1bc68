import { execFileSync } from 'node:child_process';
import { open, writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import t from 'tap';
import { readLog, type LogEntry } from '../../src/security/store-log.js';

const damaged = (reason: string) => new Error(reason);

/** The log read the simplest way, whole: what readLog must find, piece by piece. */
function readWhole(text: Buffer, baseSeq: number): { entries: LogEntry[]; lastSeq: number; goodBytes: number; totalBytes: number } | { refused: string } {
  const end = text.lastIndexOf(0x0a) + 1;
  const entries: LogEntry[] = [];
  let expected = baseSeq + 1;
  const lines = text.subarray(0, end).toString('utf8').split('\n').slice(0, -1);
  for (const [index, raw] of lines.entries()) {
    let entry: LogEntry;
    try {
      entry = JSON.parse(raw) as LogEntry;
    } catch {
      return { refused: `line ${index + 1} of the log is not JSON` };
    }
    if (!Number.isSafeInteger(entry?.seq) || !Array.isArray(entry.ops)) return { refused: `line ${index + 1} of the log is not a change` };
    if (entry.seq <= baseSeq) continue;
    if (entry.seq !== expected) return { refused: `the log jumps from change ${expected - 1} to ${entry.seq} at line ${index + 1}` };
    entries.push(entry);
    expected++;
  }
  return { entries, lastSeq: expected - 1, goodBytes: end, totalBytes: text.length };
}

t.test('read in pieces of any size, a log gives what reading it whole gives: every change in order, where its whole lines end, the same refusal', async (t) => {
  const dir = t.testdir();
  // Lines of any text (characters of one to four bytes, so that a piece may end inside one), some already in the base,
  // a torn last line or not, and now and then a line that is not a change.
  const line = fc.oneof(
    { weight: 8, arbitrary: fc.record({ name: fc.string({ unit: 'binary', maxLength: 40 }) }).map(({ name }) => ({ kind: 'change' as const, name })) },
    { weight: 1, arbitrary: fc.constantFrom('not json', '{"seq":"x","ops":[]}', '{"seq":99,"ops":[]}', '').map((text) => ({ kind: 'raw' as const, text })) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 30 }), fc.integer({ min: 0, max: 3 }), fc.option(fc.string({ unit: 'binary', maxLength: 20 })), fc.integer({ min: 1, max: 64 }), async (lines, baseSeq, torn, pieceBytes) => {
      let seq = 0;
      const text = Buffer.from(
        lines.map((entry) => `${entry.kind === 'raw' ? entry.text : JSON.stringify({ seq: ++seq, ops: [{ op: 'putUser', user: { username: entry.name } }] })}\n`).join('') + (torn === null ? '' : `{"seq":${seq + 1},"ops":[${JSON.stringify(torn)}`),
      );
      const path = `${dir}/security.log`;
      await writeFile(path, text);
      const expected = readWhole(text, baseSeq);
      const taken: LogEntry[] = [];
      const read = await readLog(path, baseSeq, damaged, (entry) => taken.push(entry), pieceBytes).catch((error: Error) => ({ refused: error.message }));
      if ('refused' in expected) return 'refused' in read && read.refused === expected.refused;
      return JSON.stringify({ ...read, taken }) === JSON.stringify({ lastSeq: expected.lastSeq, goodBytes: expected.goodBytes, totalBytes: expected.totalBytes, taken: expected.entries });
    }),
    { numRuns: 400 },
  );
  t.pass('400 generated logs, each read in pieces of 1 to 64 bytes');
});

t.test('each change is taken as its line is read, before the rest of the log is (a start never holds the whole log)', async (t) => {
  const dir = t.testdir();
  const path = `${dir}/security.log`;
  // A pipe: what the reader gets is what has been written so far, so a reader that waited for the whole log would wait here forever.
  execFileSync('mkfifo', ['-m', '0600', path]);
  const writer = open(path, 'w');
  const taken: number[] = [];
  let tookFirst: () => void = () => {};
  const first = new Promise<void>((resolve) => (tookFirst = resolve));
  const reading = readLog(path, 0, damaged, (entry) => {
    taken.push(entry.seq);
    tookFirst();
  });
  const handle = await writer;
  await handle.write('{"seq":1,"ops":[]}\n{"seq":2,');
  const deadline = setTimeout(() => tookFirst(), 10_000);
  await first;
  clearTimeout(deadline);
  t.same(taken, [1], 'the first change was taken while the second was still being written');
  await handle.write('"ops":[]}\n');
  await handle.close();
  t.same(await reading, { lastSeq: 2, goodBytes: 38, totalBytes: 38 });
  t.same(taken, [1, 2]);
});

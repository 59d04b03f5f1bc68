import { mkdir, rm, writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { readStoreFiles } from '../../src/security/file-store-read.js';
import { FileStore } from '../../src/security/file-store.js';
import { applyAll, storeRecords } from '../../src/security/store-ops.js';
import type { StoreData } from '../../src/security/store.js';
import { storeOp } from '../helpers/store-op-arbitrary.js';

const user = (username: string, passwordHash = '$argon2id$x') => ({ username, id: `id-${username}`, passwordHash, roles: ['superuser'], enabled: true });
const logLine = (seq: number, username: string, passwordHash?: string) => `${JSON.stringify({ seq, ops: [{ op: 'putUser', user: user(username, passwordHash) }] })}\n`;

t.test('a data dir without a store reads as an empty one; a base and its log read as the store with every logged change taken, the base measured in bytes', async (t) => {
  const empty = t.testdir();
  const { keyOrders, ...nothing } = await readStoreFiles(empty);
  t.same(keyOrders.keys('users'), []);
  t.same(nothing, { path: `${empty}/security.json`, data: { version: 1, users: {} }, log: { lastSeq: 0, goodBytes: 0, totalBytes: 0 }, baseBytes: 0 });

  const base = JSON.stringify({ version: 1, seq: 2, users: { 'zoë': user('zoë') } });
  const log = logLine(3, 'ada') + logLine(4, 'zoë', '$argon2id$changed');
  const dir = t.testdir({ 'security.json': base, 'security.log': logLine(2, 'ignored') + log });
  const read = await readStoreFiles(dir);
  t.same(read.data, { version: 1, users: { 'zoë': user('zoë', '$argon2id$changed'), ada: user('ada') } }, "the log's changes after the base's number, in order; none at or before it");
  t.equal(read.baseBytes, Buffer.byteLength(base), 'bytes, not characters: a name with an ë is one byte longer');
  t.equal(read.baseBytes, base.length + base.split('ë').length - 1, 'each ë two bytes');
  t.same(read.log, { lastSeq: 4, goodBytes: Buffer.byteLength(logLine(2, 'ignored') + log), totalBytes: Buffer.byteLength(logLine(2, 'ignored') + log) });
  t.notOk('seq' in read.data, "the base's number is not part of the store");
  t.same(read.keyOrders.keys('users'), ['zoë', 'ada'], 'the keys in their order, the logged ones taken');
});

t.test("the key order read with the files is each record's Object.keys after the log, for any base and any changes logged after it", async (t) => {
  // Names V8 keeps as elements and lists first ('2', '10'), beside the generated changes' own names.
  const start: StoreData = { version: 1, users: { ada: user('ada'), '10': user('10'), '2': user('2') } };
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(storeOp, { maxLength: 8 }), fc.array(fc.array(storeOp, { minLength: 1, maxLength: 3 }), { maxLength: 5 }), async (before, logged) => {
      const dir = t.testdir({});
      const base = applyAll(start, before);
      const seq = 1 + (run++ % 3);
      await writeFile(`${dir}/security.json`, JSON.stringify({ ...base, seq }));
      await writeFile(`${dir}/security.log`, logged.map((ops, index) => `${JSON.stringify({ seq: seq + 1 + index, ops })}\n`).join(''));
      const read = await readStoreFiles(dir);
      t.same(read.data, applyAll(base, logged.flat()), 'the store as the changes leave it');
      const wrong = storeRecords.find((record) => !isDeepStrictEqual(read.keyOrders.keys(record), Object.keys(read.data[record] ?? {})));
      return t.equal(wrong, undefined, `every record's keys in Object.keys's order${wrong ? ` (not ${wrong})` : ''}`);
    }),
    { numRuns: 60 },
  );
});

t.test('a damaged store is a clear error', async (t) => {
  const dir = t.testdir({ 'security.json': '{"version":1,' });
  await t.rejects(readStoreFiles(dir), { code: 'ERR_STORE_CORRUPT', message: `the security store ${dir}/security.json is damaged (not JSON); restore it from a backup` });
  await writeFile(`${dir}/security.json`, '{"version":2,"users":{}}');
  await t.rejects(readStoreFiles(dir), { code: 'ERR_STORE_CORRUPT', message: `the security store ${dir}/security.json is damaged (/version must be equal to constant); restore it from a backup` });
  // Wrong shapes are refused at open, not served (P1): each names its place, never a value.
  const wrong: [unknown, string][] = [
    [{ version: 1, users: { u: { ...user('u'), roles: 'superuser' } } }, '/users/u/roles must be array'],
    [{ version: 1, users: { u: { ...user('u'), enabled: 'yes' } } }, '/users/u/enabled must be boolean'],
    [{ version: 1, users: { elastic: user('u') } }, "the entry under 'elastic' names another"],
    [{ version: 1, users: {}, roles: { r: { id: 'x', name: 'r', endpoints: [{ endpoint: '*', actions: ['fly'], negative: false }], entities: [] } } }, '/roles/r/endpoints/0/actions/0 must be equal to one of the allowed values'],
    [{ version: 1, users: {}, apiKeys: { k: null } }, '/apiKeys/k must be object'],
  ];
  for (const [data, reason] of wrong) {
    await writeFile(`${dir}/security.json`, JSON.stringify(data));
    await t.rejects(readStoreFiles(dir), { code: 'ERR_STORE_CORRUPT', message: `the security store ${dir}/security.json is damaged (${reason}); restore it from a backup` }, reason);
  }
  // A log line that writes a wrong shape is refused as the base is, after the log.
  await writeFile(`${dir}/security.json`, JSON.stringify({ version: 1, seq: 0, users: {} }));
  await writeFile(`${dir}/security.log`, `${JSON.stringify({ seq: 1, ops: [{ op: 'putUser', user: { ...user('u'), roles: 'superuser' } }] })}\n`);
  await t.rejects(readStoreFiles(dir), { code: 'ERR_STORE_CORRUPT', message: `the security store ${dir}/security.json is damaged (after its log: /users/u/roles must be array); restore it from a backup` });
  // The node opens through it: the same refusal.
  await t.rejects(FileStore.open(dir), { code: 'ERR_STORE_CORRUPT', message: `the security store ${dir}/security.json is damaged (after its log: /users/u/roles must be array); restore it from a backup` });
});

t.test('a base or a log that cannot be read is an I/O error naming the file and the cause', async (t) => {
  const baseNotFile = t.testdir({ 'security.json': { inner: 'x' } });
  await t.rejects(readStoreFiles(baseNotFile), { code: 'ERR_IO', message: `cannot read the security store ${baseNotFile}/security.json: EISDIR` });
  await rm(baseNotFile, { recursive: true });
  await mkdir(baseNotFile);
  await mkdir(`${baseNotFile}/security.log`);
  await t.rejects(readStoreFiles(baseNotFile), { code: 'ERR_IO', message: `cannot read the security store's log in ${baseNotFile}: EISDIR` });
});

t.test('whatever a damaged base or log holds, the refusal names a place and never a value: a password hash planted anywhere stays out of it', async (t) => {
  const secret = '$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0c2FsdA$planted-secret-value';
  // A store that is wrong in one place, where the value there is the secret (or holds it), in the base or in a log line.
  const misplaced = fc.constantFrom<[string, unknown]>(
    ['roles', secret],
    ['roles', [secret, 7]],
    ['enabled', secret],
    ['id', { secret }],
    ['metadata', secret],
    ['fullName', [secret]],
    ['email', { [secret]: secret }],
  );
  await fc.assert(
    fc.asyncProperty(misplaced, fc.boolean(), async ([field, value], inLog) => {
      const damaged = { ...user('u', secret), [field]: value };
      const dir = t.testdir(
        inLog
          ? { 'security.json': JSON.stringify({ version: 1, seq: 0, users: {} }), 'security.log': `${JSON.stringify({ seq: 1, ops: [{ op: 'putUser', user: damaged }] })}\n` }
          : { 'security.json': JSON.stringify({ version: 1, users: { u: damaged } }) },
      );
      const error = await readStoreFiles(dir).then(
        () => undefined,
        (refused: Error & { code?: string }) => refused,
      );
      return error?.code === 'ERR_STORE_CORRUPT' && !error.message.includes('planted-secret') && !String(error.stack).includes('planted-secret') && error.message.startsWith(`the security store ${dir}/security.json is damaged (`);
    }),
    { numRuns: 40 },
  );
});

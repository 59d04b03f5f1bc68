import { execFileSync, spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import t from 'tap';
import { FileStore } from '../../src/security/file-store.js';
import { storeText } from '../../src/security/store-text.js';
import { openStore } from '../../src/security/open-store.js';
import { settingsOf } from '../helpers/settings.js';
import type { StoreOp } from '../../src/security/store.js';

const user = (username: string, passwordHash = '$argon2id$x') => ({ username, id: `id-${username}`, passwordHash, roles: ['superuser'], enabled: true });
const lines = async (path: string) => (await readFile(path, 'utf8').catch(() => '')).split('\n').filter(Boolean);

t.test('past its size threshold a change is one fsynced line in security.log (0600), the base untouched; the log is folded in once it outgrows the base', async (t) => {
  const dir = t.testdir();
  const store = await FileStore.open(dir, { rewriteBelow: 2_000 });
  let n = 0;
  while ((await stat(store.path).catch(() => ({ size: 0 }))).size < 2_000) await store.putUser(user(`u${n++}`));
  t.same(await lines(store.logPath), [], 'below the threshold: the base is rewritten, no log');
  const base = await stat(store.path);
  await store.putUser(user('logged'));
  t.same((await lines(store.logPath)).map((line) => JSON.parse(line) as { seq: number; ops: StoreOp[] }), [{ seq: n + 1, ops: [{ op: 'putUser', user: user('logged') }] }], 'one line: the change and its number');
  t.equal((await stat(store.logPath)).mode & 0o777, 0o600);
  const after = await stat(store.path);
  t.same([after.ino, after.size, after.mtimeMs], [base.ino, base.size, base.mtimeMs], 'the base was not written');
  t.same((await FileStore.open(dir)).getUser('logged'), user('logged'), 'a reopened store has the logged change');

  // Grow the log past the base: it is folded in, and the log starts again.
  let folded = false;
  for (let index = 0; index < 200 && !folded; index++) {
    await store.putUser(user(`more${index}`));
    // The fold goes on after the change is answered; closing the store waits for it.
    await store.close();
    folded = (await lines(store.logPath)).length === 0;
  }
  t.ok(folded, 'the log was folded into the base');
  const reopened = await FileStore.open(dir);
  t.same(reopened.listUsers().map((entry) => entry.username).sort(), store.listUsers().map((entry) => entry.username).sort(), 'and nothing was lost');
  t.equal((JSON.parse(await readFile(store.path, 'utf8')) as { seq: number }).seq, n + 1 + store.listUsers().filter((entry) => entry.username.startsWith('more')).length, 'the base records the number of its last change');
});

t.test('a crash leaves a store that opens with every acknowledged change: a torn last line is dropped and cut before the next append; a log already folded is skipped', async (t) => {
  const dir = t.testdir();
  const store = await FileStore.open(dir, { rewriteBelow: 0 });
  await store.putUser(user('ada'));
  await store.putUser(user('bea'));
  // A fold goes on after the change is answered: closing waits for it, so that the files are as a crash would leave them.
  await store.close();
  await appendFile(store.logPath, '{"seq":3,"ops":[{"op":"putUser","user":{"username":"torn"');
  const opened = await FileStore.open(dir, { rewriteBelow: 0 });
  t.same(opened.listUsers().map((entry) => entry.username).sort(), ['ada', 'bea'], 'the torn line was never acknowledged: not taken');
  await opened.putUser(user('cy'));
  await opened.close();
  t.notMatch(await readFile(store.logPath, 'utf8'), 'torn', 'cut before the next line was appended');
  t.same((await FileStore.open(dir)).listUsers().map((entry) => entry.username).sort(), ['ada', 'bea', 'cy']);

  // Folded but not yet cut (a crash between the two): the base's number says which lines it already holds.
  const folding = await FileStore.open(dir, { rewriteBelow: 1 << 20 });
  await folding.putUser(user('dee'));
  await folding.close();
  t.equal((JSON.parse(await readFile(store.path, 'utf8')) as { seq: number }).seq, 4, 'the base holds change 4');
  await writeFile(store.logPath, [3, 4].map((seq) => `${JSON.stringify({ seq, ops: [{ op: 'putUser', user: user(seq === 3 ? 'cy' : 'dee') }] })}\n`).join(''));
  t.same((await FileStore.open(dir)).listUsers().map((entry) => entry.username).sort(), ['ada', 'bea', 'cy', 'dee'], 'lines already in the base are skipped, not applied twice');
});

t.test('a log that lost a change or holds something else is refused, naming the line and never a value', async (t) => {
  const dir = t.testdir({ 'security.json': JSON.stringify({ version: 1, users: {}, seq: 0 }) });
  const path = `${dir}/security.json`;
  const refused = async (log: string, reason: string) => {
    await writeFile(`${dir}/security.log`, log);
    await t.rejects(FileStore.open(dir), { code: 'ERR_STORE_CORRUPT', message: `the security store ${path} is damaged (${reason}); restore it from a backup` }, reason);
  };
  const line = (seq: number, ops: unknown) => `${JSON.stringify({ seq, ops })}\n`;
  await refused(`${line(1, [])}not json at all\n${line(2, [])}`, 'line 2 of the log is not JSON');
  await refused(`${line(1, [])}{"seq":"2"}\n`, 'line 2 of the log is not a change');
  await refused(`${line(1, [])}${line(3, [])}`, 'the log jumps from change 1 to 3 at line 2');
  await refused(line(1, [{ op: 'putUser', user: { username: 'x', passwordHash: 'secret-hash-value', roles: 'superuser', enabled: true } }]), 'after its log: /users/x/roles must be array');
  await refused(line(1, [{ op: 'fly' }]), 'change 1 in the log is not one this securenode can apply');
  await refused(line(1, [{ op: 'putUser' }]), 'change 1 in the log is not one this securenode can apply');
  await refused(line(1, [{ op: 'putUser', user: { passwordHash: 'secret-hash-value' } }]), "after its log: /users/undefined must have required property 'username'");
});

t.test('any sequence of changes, logged, folded and reopened at any point, reads back as it was in memory', async (t) => {
  const names = fc.constantFrom('ada', 'bea', 'cy', '__proto__');
  const op: fc.Arbitrary<StoreOp> = fc.oneof(
    fc.record({ name: names, hash: fc.string({ maxLength: 30 }) }).map(({ name, hash }): StoreOp => ({ op: 'putUser', user: user(name, hash) })),
    names.map((username): StoreOp => ({ op: 'deleteUser', username })),
    fc.constantFrom('ops', 'audit').map((name): StoreOp => ({ op: 'putRole', role: { name, id: name, endpoints: [], entities: [] } })),
    fc.constantFrom('ops', 'audit').map((name): StoreOp => ({ op: 'deleteRole', name })),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 25 }), fc.integer({ min: 0, max: 3_000 }), async (ops, threshold) => {
      const dir = t.testdir();
      const store = await FileStore.open(dir, { rewriteBelow: threshold });
      for (const change of ops) await store.apply(change);
      // Opened while a fold may be under way (it goes on after the change is answered), and once it is done.
      const during = await FileStore.open(dir, { rewriteBelow: threshold });
      await store.close();
      const after = await FileStore.open(dir, { rewriteBelow: threshold });
      return JSON.stringify(during.snapshot()) === JSON.stringify(store.snapshot()) && JSON.stringify(after.snapshot()) === JSON.stringify(store.snapshot());
    }),
    { numRuns: 60 },
  );
});

for (const writers of [1, 8]) {
  t.test(`kill -9 while ${writers === 1 ? 'a process writes changes' : `${writers} writers in a process change the store at once (written together)`} as fast as it can: every change acknowledged is there, and the store opens`, async (t) => {
    const dir = t.testdir();
    const module = fileURLToPath(new URL('../../src/security/file-store.js', import.meta.url));
    const script = `
      const { FileStore } = await import(${JSON.stringify(module)});
      const store = await FileStore.open(${JSON.stringify(dir)}, { rewriteBelow: 4096 });
      await Promise.all(Array.from({ length: ${writers} }, async (_, writer) => {
        for (let index = 0; ; index++) {
          await store.putUser({ username: 'w' + writer + '-' + (index % 50), id: 'i' + writer + '-' + index, passwordHash: 'h' + index, roles: [], enabled: true });
          process.stdout.write(writer + ' ' + index + '\\n');
        }
      }));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged = Array<number>(writers).fill(-1);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [writer, index] = line.split(' ').map(Number) as [number, number];
      acknowledged[writer] = index;
    });
    // Past the base's threshold: the changes go to the log (at 8 writers, written together). Polled, with a deadline.
    const deadline = performance.now() + 60_000;
    while (!acknowledged.every((index) => index >= (writers === 1 ? 400 : 100)) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    t.ok(acknowledged.every((index) => index >= (writers === 1 ? 400 : 100)), `the writers got that far before the kill (${acknowledged.join(', ')})`);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    // Opened as the node opens it.
    const store = await openStore(settingsOf({}), { dataDir: dir, clusterUuid: '', claim: false });
    for (const [writer, index] of acknowledged.entries()) {
      const last = store.getUser(`w${writer}-${index % 50}`)!;
      t.ok(Number(last.passwordHash.slice(1)) >= index, `writer ${writer}'s change ${index} was acknowledged before the kill, and is there (the user has ${last.passwordHash})`);
    }
    t.equal(store.listUsers().length, writers * 50, 'and every user');
    t.same((await readdir(dir)).filter((name) => name.endsWith('.tmp')), [], 'and no half-written copy of the store is left beside it');
  });
}

t.test('a copy of the base left by a write killed midway is removed when the node or a tool opens the store; other files stay', async (t) => {
  const dir = t.testdir({
    'security.json': JSON.stringify({ version: 1, users: { ada: user('ada') }, seq: 1 }),
    '.security.json.0123456789ab.tmp': '{"version":1,"users":{"gone":{"passwordHash":"$argon2id$deleted-user-hash"',
    '.security.json.0123456789ab.tmp.keep': 'not a temporary file of the store',
    '.other.json.0123456789ab.tmp': 'a temporary file of another file',
    '.security.json.0123.tmp': 'not the pattern',
  });
  const all = ['.other.json.0123456789ab.tmp', '.security.json.0123.tmp', '.security.json.0123456789ab.tmp', '.security.json.0123456789ab.tmp.keep', 'security.json'];
  t.ok((await FileStore.open(dir)).getUser('ada'));
  t.same((await readdir(dir)).sort(), all, 'FileStore.open alone removes nothing: a program may open the store beside a running node');
  const store = await openStore(settingsOf({}), { dataDir: dir, clusterUuid: '', claim: false });
  t.ok(store.getUser('ada'));
  t.same((await readdir(dir)).sort(), all.filter((name) => name !== '.security.json.0123456789ab.tmp'));
});

t.test('the base is written in pieces of about 64 KiB that together are exactly the indented JSON of the store', async (t) => {
  const key = fc.oneof(fc.constantFrom('__proto__', 'constructor', '"', '\\', '\n', ''), fc.string({ maxLength: 8 }));
  const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined));
  fc.assert(
    fc.property(fc.dictionary(key, fc.oneof(value, fc.dictionary(key, value, { maxKeys: 6 })), { maxKeys: 6 }), (store) => [...storeText(store)].join('') === `${JSON.stringify(store, null, 2)}\n`),
    { numRuns: 500 },
  );

  const users = Object.fromEntries(Array.from({ length: 3_000 }, (_, index) => [`u${index}`, user(`u${index}`, 'h'.repeat(100))]));
  const pieces = [...storeText({ version: 1, users, seq: 9 })];
  t.ok(pieces.length >= 8, `${pieces.length} pieces for ${pieces.join('').length} characters`);
  t.ok(pieces.every((piece) => piece.length < 64 * 1024 + 1_000), 'none much over 64 KiB');
  t.equal(pieces.join(''), `${JSON.stringify({ version: 1, users, seq: 9 }, null, 2)}\n`);
});

t.test('a disk that fills in the middle of a change: the change fails and says why, the part written is cut before the next one, and the store opens with every acknowledged change', async (t) => {
  const module = fileURLToPath(new URL('../../src/security/file-store.js', import.meta.url));
  // A process that writes the changes it reads on stdin, one line each, and answers each; its file size limit (RLIMIT_FSIZE,
  // set from outside with prlimit) makes the kernel write part of a line and then refuse the rest, as a full disk does.
  const writer = (dir: string) => {
    const script = `
      const { FileStore } = await import(${JSON.stringify(module)});
      const { createInterface } = await import('node:readline');
      const store = await FileStore.open(${JSON.stringify(dir)}, { rewriteBelow: 1000 });
      for await (const name of createInterface({ input: process.stdin })) {
        try {
          await store.putUser({ username: name, id: 'id-' + name, passwordHash: '$argon2id$' + name, roles: [], enabled: true });
          process.stdout.write('ok\\n');
        } catch (error) {
          process.stdout.write('error ' + error.code + ' ' + error.message + '\\n');
        }
      }`;
    // Under `env -i`, without the test runner's hooks: one of them handles SIGXFSZ, which Node ignores, and dies of it.
    const child = spawn('env', ['-i', process.execPath, '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const answers: string[] = [];
    const waiting: ((answer: string) => void)[] = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const done = buffered.split('\n');
      buffered = done.pop()!;
      for (const answer of done) (waiting.shift() ?? ((text: string) => answers.push(text)))(answer);
    });
    const put = (name: string) =>
      new Promise<string>((resolve) => {
        waiting.push(resolve);
        child.stdin.write(`${name}\n`);
      });
    const limit = (bytes: number | 'unlimited') => execFileSync('prlimit', ['--pid', String(child.pid), `--fsize=${bytes}:`]);
    const kill = () => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve).kill('SIGKILL')));
    return { put, limit, kill };
  };
  // Names of one length: every change's line has the same length, so that a limit can fall at any byte of the next one.
  const name = (index: number) => `user${String(index).padStart(4, '0')}`;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.integer({ min: 1, max: 3 }), async (before, where, after) => {
      const dir = await mkdtemp(join(tmpdir(), 'securenode-full-'));
      // A base of some size, so that the changes go to the log and are not folded into the base meanwhile.
      const seed = await FileStore.open(dir, { rewriteBelow: 1 << 20 });
      for (let index = 0; index < 30; index++) await seed.putUser(user(`seed${index}`));
      const w = writer(dir);
      try {
        const acknowledged: string[] = [];
        let index = 0;
        for (; index < before; index++) {
          if ((await w.put(name(index))) === 'ok') acknowledged.push(name(index));
        }
        const logPath = join(dir, 'security.log');
        const size = (await stat(logPath)).size;
        const line = size / before;
        // The next line stops at its byte `cut` (0: nothing of it is written).
        const cut = Math.floor(where * line);
        w.limit(size + cut);
        const failed = await w.put(name(index++));
        t.equal(failed, `error ERR_IO cannot write the security store's log ${logPath}: EFBIG; the change was not made`, `refused, with the file and the reason (cut at ${cut} of ${line})`);
        t.equal((await stat(logPath)).size, size + cut, 'the kernel wrote part of the line');
        w.limit('unlimited');
        for (let more = 0; more < after; more++, index++) {
          t.equal(await w.put(name(index)), 'ok', 'space again: the next change is made');
          acknowledged.push(name(index));
        }
        await w.kill();
        const reopened = await FileStore.open(dir);
        t.same(
          reopened.listUsers().map((entry) => entry.username).filter((username) => username.startsWith('user')),
          acknowledged,
          'after a crash the store opens with exactly the acknowledged changes',
        );
      } finally {
        await w.kill();
        await rm(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 12 },
  );
});

t.test('the log stays open while changes come, and is let go when they stop and when the store closes: a dropped store holds no descriptor', async (t) => {
  const dir = t.testdir();
  const seed = await FileStore.open(dir, { rewriteBelow: 1 << 20 });
  for (let index = 0; index < 30; index++) await seed.putUser(user(`seed${index}`));
  const store = await FileStore.open(dir, { rewriteBelow: 1000, logIdleMs: 300 });
  // This process's descriptors on the log, as the kernel lists them.
  const open = async () => {
    let count = 0;
    for (const fd of await readdir('/proc/self/fd')) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === store.logPath) count++;
    return count;
  };
  t.equal(await open(), 0, 'nothing open before the first change');
  for (let index = 0; index < 5; index++) await store.putUser(user(`burst${index}`));
  t.equal(await open(), 1, 'one descriptor for a burst of changes');
  // Polled with a deadline: let go some 300 ms after the last change.
  for (const deadline = Date.now() + 10_000; (await open()) > 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(await open(), 0, 'let go once the changes stop');
  await store.putUser(user('later'));
  t.equal(await open(), 1, 'opened again by the next change');
  await store.close();
  t.equal(await open(), 0, 'and let go when the store closes');
  await store.putUser(user('after-close'));
  await store.close();
  t.same((await lines(store.logPath)).map((line) => (JSON.parse(line) as { ops: { user: { username: string } }[] }).ops[0]!.user.username), ['burst0', 'burst1', 'burst2', 'burst3', 'burst4', 'later', 'after-close'], 'every change on its own line, in order');
});

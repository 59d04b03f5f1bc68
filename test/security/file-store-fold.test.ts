import { execFileSync, spawn } from 'node:child_process';
import { open, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import t from 'tap';
import { FileStore, type FoldStep } from '../../src/security/file-store.js';
import { openStore } from '../../src/security/open-store.js';
import { applyInPlace } from '../../src/security/store-ops.js';
import type { StoreData, StoreOp } from '../../src/security/store.js';
import { storeOp } from '../helpers/store-op-arbitrary.js';
import { settingsOf } from '../helpers/settings.js';

// The log is folded into the base while changes go on: the store as it was at one change is written out, and the log
// then keeps only the lines after it. These tests hold a fold at its steps (afterFoldStep) or kill the process there.

const user = (username: string, roles: string[] = ['ops']) => ({ username, id: `id-${username}`, passwordHash: `$argon2id$${'h'.repeat(80)}`, roles, enabled: true });
const logSeqs = async (path: string) =>
  (await readFile(path, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { seq: number }).seq);

/** Any change, and users named by numbers (array indices, which V8 lists first, and names that only look like them). */
const numbered = fc.constantFrom('0', '7', '100', '2900', '01', '4294967294', '4294967295');
const foldOp = fc.oneof(storeOp, numbered.map((name): StoreOp => ({ op: 'putUser', user: user(name) })), numbered.map((username): StoreOp => ({ op: 'deleteUser', username })));

/** A promise and the function that settles it. */
function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** `promise`, or a failure naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

t.test('a fold holds no change up: held before it writes anything, 20 changes are answered meanwhile; it writes the store as it was at its change, and the log keeps the lines after', async (t) => {
  const dir = t.testdir();
  const held = gate();
  const steps: FoldStep[] = [];
  // No size threshold: the first change goes to the log, which then outgrows the (absent) base, and a fold begins.
  const store = await FileStore.open(dir, {
    rewriteBelow: 0,
    afterFoldStep: async (step) => {
      steps.push(step);
      if (steps.length === 1) await held.opened;
    },
  });
  await within(store.putUser(user('first')), 10_000, 'the change that began the fold');
  t.same(steps, ['kept'], 'the first change began a fold, held before its first write');
  await within(Promise.all(Array.from({ length: 20 }, (_, index) => store.putUser(user(`while${index}`)))), 10_000, 'the changes made during the fold');
  t.same(await readdir(dir), ['security.log'], 'answered while the fold had written nothing');
  held.open();
  await store.close();
  t.same(steps, ['kept', 'based', 'cut']);
  t.equal(await readFile(store.path, 'utf8'), `${JSON.stringify({ version: 1, users: { first: user('first') }, seq: 1 }, null, 2)}\n`, 'the base is the store at the fold\'s change, exactly');
  t.same(await logSeqs(store.logPath), Array.from({ length: 20 }, (_, index) => index + 2), 'the log holds the changes after it, each once');
  t.same((await FileStore.open(dir)).snapshot(), store.snapshot(), 'and the two read back as the store in memory');
});

t.test('the base a fold writes is the store exactly as it was at the fold\'s change, whatever changes are taken while it is written (held first, or between its pieces)', async (t) => {
  // 3,000 users in the ops role besides the named ones the changes touch: a base of about 9 pieces, so that changes
  // land between them; deleting the role rewrites every user, and deleting a user invalidates API keys found by a scan.
  // Every hundredth is named by a number, which V8 lists first and in order, wherever it was added: the fold lists the
  // keys from the order it keeps (KeyOrders), and so do the changes below.
  const filler = (index: number) => (index % 100 === 0 ? String(3_000 - index) : `f${index}`);
  const fillers = Object.fromEntries(Array.from({ length: 3_000 }, (_, index) => [filler(index), user(filler(index))]));
  const baseText = `${JSON.stringify({ version: 1, users: fillers, roles: { ops: { name: 'ops', id: 'r-ops', endpoints: [], entities: [] } }, seq: 0 }, null, 2)}\n`;
  await fc.assert(
    fc.asyncProperty(fc.array(foldOp, { maxLength: 12 }), fc.array(foldOp, { minLength: 1, maxLength: 20 }), fc.boolean(), async (before, during, holdFirst) => {
      // The changes before, then padding, already in a log as large as the base: the next change begins a fold.
      const model = JSON.parse(baseText) as StoreData & { seq?: number };
      delete model.seq;
      const logged: StoreOp[] = [...before];
      let bytes = JSON.stringify(before).length;
      for (let index = 0; bytes <= baseText.length; index++) {
        const pad: StoreOp = { op: 'putUser', user: user(`pad${index}`, []) };
        logged.push(pad);
        bytes += JSON.stringify(pad).length;
      }
      const trigger: StoreOp = { op: 'putUser', user: user('trigger') };
      for (const change of [...logged, trigger]) applyInPlace(model, change);
      const expected = `${JSON.stringify({ ...model, seq: logged.length + 1 }, null, 2)}\n`;
      const dir = t.testdir({ 'security.json': baseText, 'security.log': logged.map((ops, index) => `${JSON.stringify({ seq: index + 1, ops: [ops] })}\n`).join('') });

      const held = gate();
      let base: string | undefined;
      const store = await FileStore.open(dir, {
        rewriteBelow: 0,
        afterFoldStep: async (step) => {
          if (step === 'kept' && holdFirst) await held.opened;
          if (step === 'based') base ??= await readFile(`${dir}/security.json`, 'utf8');
        },
      });
      await store.apply(trigger);
      // All taken before it writes (held), or at once while it writes its pieces.
      const changes = Promise.all(during.map((change) => store.apply(change)));
      if (holdFirst) await changes;
      held.open();
      await changes;
      await store.close();
      const reopened = await FileStore.open(dir);
      return base === expected && JSON.stringify(reopened.snapshot()) === JSON.stringify(store.snapshot());
    }),
    { numRuns: 40 },
  );
});

t.test('each base that folds write while changes are made one after another is the store exactly as it was at its change, its keys in their order', async (t) => {
  // The store takes the changes after it opened: each fold lists the keys from the order kept since (KeyOrders).
  await fc.assert(
    fc.asyncProperty(fc.array(foldOp, { minLength: 1, maxLength: 40 }), async (changes) => {
      const dir = t.testdir();
      const bases: string[] = [];
      const store = await FileStore.open(dir, { rewriteBelow: 0, afterFoldStep: async (step) => void (step === 'based' && bases.push(await readFile(`${dir}/security.json`, 'utf8'))) });
      for (const change of changes) await store.apply(change);
      await store.close();
      return (
        bases.length > 0 &&
        bases.every((base) => {
          const { seq } = JSON.parse(base) as { seq: number };
          const model: StoreData = { version: 1, users: {} };
          for (const change of changes.slice(0, seq)) applyInPlace(model, change);
          return base === `${JSON.stringify({ ...model, seq }, null, 2)}\n`;
        })
      );
    }),
    { numRuns: 60 },
  );
  t.pass('60 runs of up to 40 changes');
});

for (const step of ['kept', 'based', 'cut'] as const) {
  t.test(`kill -9 at a fold's step '${step}' while 4 writers change the store: every change acknowledged, those made during the fold among them, is there, and the store opens`, async (t) => {
    const dir = t.testdir();
    // A base of some size, so that a fold takes a while and changes come meanwhile.
    const users = Object.fromEntries(Array.from({ length: 2_000 }, (_, index) => [`f${index}`, user(`f${index}`)]));
    await writeFile(`${dir}/security.json`, JSON.stringify({ version: 1, users, seq: 0 }), { mode: 0o600 });
    const module = fileURLToPath(new URL('../../src/security/file-store.js', import.meta.url));
    // The process kills itself at the step of its first fold, once 40 more changes were acknowledged after the step.
    const script = `
      const { FileStore } = await import(${JSON.stringify(module)});
      let folds = 0, acknowledged = 0, killAt = Infinity;
      const store = await FileStore.open(${JSON.stringify(dir)}, { rewriteBelow: 0, afterFoldStep: async (step) => {
        if (step === 'kept') folds++;
        if (step !== ${JSON.stringify(step)} || folds < 1) return;
        process.stdout.write('step\\n');
        killAt = acknowledged + 40;
        await new Promise(() => {});
      } });
      await Promise.all(Array.from({ length: 4 }, async (_, writer) => {
        for (let index = 0; ; index++) {
          await store.putUser({ username: 'w' + writer + '-' + (index % 50), id: 'i' + writer + '-' + index, passwordHash: 'h' + index, roles: [], enabled: true });
          process.stdout.write(writer + ' ' + index + '\\n');
          if (++acknowledged >= killAt) process.kill(process.pid, 'SIGKILL');
        }
      }));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged = Array<number>(4).fill(-1);
    let afterStep = -1;
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'step') afterStep = 0;
      else {
        const [writer, index] = line.split(' ').map(Number) as [number, number];
        acknowledged[writer] = index;
        if (afterStep >= 0) afterStep++;
      }
    });
    const exit = await within(new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_, signal) => resolve(signal))), 120_000, 'the writers and the kill');
    t.equal(exit, 'SIGKILL');
    t.ok(afterStep >= 40, `changes were acknowledged after the step, before the kill (${afterStep})`);
    const store = await openStore(settingsOf({}), { dataDir: dir, clusterUuid: '', claim: false });
    for (const [writer, index] of acknowledged.entries()) {
      const last = store.getUser(`w${writer}-${index % 50}`)!;
      t.ok(Number(last.passwordHash.slice(1)) >= index, `writer ${writer}'s change ${index} was acknowledged before the kill, and is there (the user has ${last.passwordHash})`);
    }
    t.equal(store.listUsers().length, 2_000 + 4 * 50, 'and every user');
    t.same((await readdir(dir)).filter((name) => name.endsWith('.tmp')), [], 'and no half-written copy of the store is left beside it');
    // A store opened after the kill folds and writes on as before.
    const again = await FileStore.open(dir, { rewriteBelow: 0 });
    await again.putUser(user('after'));
    await again.close();
    t.ok((await FileStore.open(dir)).getUser('after'));
  });
}

t.test('a program that opens the store beside a node reads the base again when a fold replaced it while it read the log: never a refusal, never a change missed', async (t) => {
  const line = (seq: number, name: string) => `${JSON.stringify({ seq, ops: [{ op: 'putUser', user: user(name) }] })}\n`;
  for (const tail of ['', line(4, 'dee')]) {
    // The log is a pipe, so that the reader waits at it, having read the old base: the moment a fold could come.
    const dir = t.testdir({ 'security.json': JSON.stringify({ version: 1, users: { ada: user('ada') }, seq: 1 }) });
    execFileSync('mkfifo', [`${dir}/security.log`]);
    const reading = FileStore.open(dir);
    const pipe = await open(`${dir}/security.log`, 'w');
    // What a fold does meanwhile: a new base at change 3, then the log replaced by its lines after it (none, or change 4).
    await writeFile(`${dir}/next.json`, JSON.stringify({ version: 1, users: { ada: user('ada'), bea: user('bea'), cy: user('cy') }, seq: 3 }));
    await rename(`${dir}/next.json`, `${dir}/security.json`);
    await writeFile(`${dir}/next.log`, tail);
    await rename(`${dir}/next.log`, `${dir}/security.log`);
    // The reader gets from the pipe what it would from the log replaced: the lines after the new base, not the old one.
    await pipe.writeFile(tail);
    await pipe.close();
    const reader = await within(reading, 10_000, 'the read');
    t.same(reader.listUsers().map((entry) => entry.username), tail ? ['ada', 'bea', 'cy', 'dee'] : ['ada', 'bea', 'cy'], tail ? 'a log that no longer follows the base read: read again, not refused' : 'a log emptied after the base read: read again, nothing missed');
  }
});

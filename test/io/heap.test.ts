import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const fileStore = fileURLToPath(new URL('../../src/security/file-store.js', import.meta.url));

type Opened = { youngBeforeMb: number; youngAfterMb: number; globalGc: string; contextGc: string };

/**
 * In a process of its own: fill the young generation with `liveMb` of objects that stay alive (what a load leaves
 * there when it ends: how much depends on where the last scavenge fell, so it is made here, not hoped for), open a
 * store (a whole-store load), and report the young generation before and after.
 */
async function openInChild(dir: string, liveMb: number, nodeOptions: string[] = []): Promise<Opened> {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { runInNewContext } from 'node:vm';
    const { FileStore } = await import(${JSON.stringify(fileStore)});
    const young = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_used_size / 1048576;
    const live = [];
    for (let round = 0; young() < ${liveMb} && round < 5000; round++) for (let index = 0; index < 1000; index++) live.push({ index, name: 'entry-' + index });
    const youngBeforeMb = young();
    await FileStore.open(${JSON.stringify(dir)});
    const youngAfterMb = young();
    console.log(JSON.stringify({ youngBeforeMb, youngAfterMb, globalGc: typeof globalThis.gc, contextGc: runInNewContext('typeof gc'), live: live.length }));`;
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeOptions, '--input-type=module', '-e', script], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as Opened;
}

t.test("a whole store read at once takes what is alive in V8's young generation with it, not the first scavenges while the node serves", async (t) => {
  const dir = t.testdir({ 'security.json': JSON.stringify({ version: 1, users: { elastic: { username: 'elastic', passwordHash: '$argon2id$x', roles: ['superuser'], enabled: true } } }) });
  const opened = await openInChild(dir, 12);
  t.ok(opened.youngBeforeMb >= 12, `12 MB or more alive in the young generation before the open (${opened.youngBeforeMb.toFixed(1)} MB)`);
  t.ok(opened.youngAfterMb < 1, `all but nothing after it (${opened.youngAfterMb.toFixed(2)} MB)`);
  t.equal(opened.globalGc, 'undefined', 'gc is not left on the process globals');
  t.equal(opened.contextGc, 'undefined', 'nor in a context made after: V8 exposes it no more');
  // A process started with --expose-gc keeps its gc, and the open uses it.
  const exposed = await openInChild(dir, 12, ['--expose-gc']);
  t.ok(exposed.youngAfterMb < 1, `the same with the process's own gc (${exposed.youngAfterMb.toFixed(2)} MB)`);
  t.equal(exposed.globalGc, 'function', 'and its gc stays');
  t.equal(exposed.contextGc, 'function', 'and so does V8 exposing it');
});

const heapModule = fileURLToPath(new URL('../../src/io/heap.js', import.meta.url));

t.test("a kept tick queue entry keeps nextTick's shape through collections that find nothing else of that shape alive", async (t) => {
  // Five full collections with the tick queue empty: more than V8 keeps an unused shape for (two), as a node at rest
  // gets from its memory reducer. The entry made after them must still have the kept entry's shape: the one
  // nextTick's fast path was built for.
  const script = `
    import { createHook } from 'node:async_hooks';
    const { keepTickShape, tickShapeKept } = await import(${JSON.stringify(heapModule)});
    const before = tickShapeKept();
    const kept = keepTickShape();
    const again = keepTickShape();
    for (let round = 0; round < 5; round++) gc();
    let fresh;
    const hook = createHook({ init(_id, type, _trigger, resource) { if (type === 'TickObject') fresh ??= resource; } }).enable();
    process.nextTick(() => {});
    hook.disable();
    console.log(JSON.stringify({ before, after: tickShapeKept(), same: kept === again, keys: Reflect.ownKeys(kept).length, shared: %HaveSameMap(kept, fresh) }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--allow-natives-syntax', '--input-type=module', '-e', script]);
  t.same(JSON.parse(stdout), { before: false, after: true, same: true, keys: 4, shared: true }, 'one entry kept, once: its shape is the one a new entry gets');
});

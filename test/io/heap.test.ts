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

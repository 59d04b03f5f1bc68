import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const fileStore = fileURLToPath(new URL('../../src/security/file-store.js', import.meta.url));

/** Open the file store of `dir` in a process of its own (a heap nothing else has touched) and report its young generation after. */
async function openInChild(dir: string, nodeOptions: string[] = []): Promise<{ youngMb: number; users: number; globalGc: string; contextGc: string }> {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { runInNewContext } from 'node:vm';
    const { FileStore } = await import(${JSON.stringify(fileStore)});
    const store = await FileStore.open(${JSON.stringify(dir)});
    const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_used_size;
    console.log(JSON.stringify({ youngMb: young / 1048576, users: Object.keys(store.snapshot().users).length, globalGc: typeof globalThis.gc, contextGc: runInNewContext('typeof gc') }));`;
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeOptions, '--input-type=module', '-e', script], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as { youngMb: number; users: number; globalGc: string; contextGc: string };
}

t.test('a whole store read at once leaves the young generation with the load, not in the first collections while the node serves', async (t) => {
  // 60,000 users: about 15 MB of JSON, which leaves the young generation full (16 MB semi-spaces) when nothing moves it.
  const dir = t.testdir();
  const users: Record<string, unknown> = {};
  for (let index = 1; index <= 60_000; index++) {
    users[`u${index}`] = { username: `u${index}`, id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`, passwordHash: `$argon2id$v=19$m=19456,t=2,p=1$${'s'.repeat(22)}$${'h'.repeat(43)}`, roles: ['read-only'], enabled: true };
  }
  await writeFile(`${dir}/security.json`, JSON.stringify({ version: 1, users }), { mode: 0o600 });
  const opened = await openInChild(dir);
  t.equal(opened.users, 60_000);
  t.ok(opened.youngMb < 1, `the young generation is all but empty after the open (${opened.youngMb.toFixed(2)} MB)`);
  t.equal(opened.globalGc, 'undefined', 'gc is not left on the process globals');
  t.equal(opened.contextGc, 'undefined', 'nor in a context made after: V8 exposes it no more');
  // A process started with --expose-gc keeps its gc, and the open uses it.
  const exposed = await openInChild(dir, ['--expose-gc']);
  t.ok(exposed.youngMb < 1, `the same with the process's own gc (${exposed.youngMb.toFixed(2)} MB)`);
  t.equal(exposed.globalGc, 'function', 'and its gc stays');
  t.equal(exposed.contextGc, 'function', 'and so does V8 exposing it');
});

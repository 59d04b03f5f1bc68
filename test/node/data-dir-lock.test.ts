import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import t from 'tap';
import { acquireLock, isLockFile, lockHolder, readNodeAddress, writeNodeAddress } from '../../src/node/data-dir.js';

// The home's lock and the certificates' lock, taken by processes at once: at most one holds it at any time. Each
// process below starts at the same moment, and if it gets the lock, holds it 150 ms and says when.
const module = fileURLToPath(new URL('../../src/node/data-dir.js', import.meta.url));
const script = `
  const { acquireLock } = await import(${JSON.stringify(module)});
  const [dir, go] = process.argv.slice(1);
  while (Date.now() < Number(go));
  try {
    const release = await acquireLock(dir, { name: '.certs.lock', busy: (holder) => 'held by ' + holder });
    const from = performance.timeOrigin + performance.now();
    await new Promise((resolve) => setTimeout(resolve, 150));
    process.stdout.write('held ' + from + ' ' + (performance.timeOrigin + performance.now()) + '\\n');
    await release();
  } catch (error) {
    process.stdout.write(error.code === 'ERR_NODE_LOCKED' ? 'busy\\n' : 'failed ' + error.message + '\\n');
  }`;

/** Run `count` processes that try to take the lock of `dir` at the same moment; what each said. */
async function contend(dir: string, count: number): Promise<string[]> {
  const go = Date.now() + 600;
  return Promise.all(
    Array.from({ length: count }, () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir, String(go)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      return new Promise<string>((resolve) => child.once('close', () => resolve(out.trim())));
    }),
  );
}

/** Read the lock at `path` over and over for `ms` (holding this thread): how many times it was there and empty. */
function readWhileTaken(path: string, ms: number): number {
  let empty = 0;
  for (const until = performance.now() + ms; performance.now() < until; ) {
    try {
      if (readFileSync(path, 'utf8') === '') empty++;
    } catch {
      // Not there.
    }
  }
  return empty;
}

/** Whether two of the holds overlap in time. */
function overlapping(said: readonly string[]): boolean {
  const holds = said.filter((line) => line.startsWith('held ')).map((line) => line.split(' ').slice(1).map(Number) as [number, number]);
  holds.sort((a, b) => a[0] - b[0]);
  return holds.some((hold, index) => index > 0 && hold[0] < holds[index - 1]![1]);
}

t.test("six processes take a lock at once, ten times over, and six times more over a lock its dead holder left: never two hold it, and none sees it without its holder's pid", async (t) => {
  for (let round = 0; round < 16; round++) {
    const dir = t.testdir();
    // The last six rounds: a lock whose holder died (a kill -9), which every process may take over, but only one; in the
    // last two, breakers of a stale lock died too and left theirs (two of them, then one), which the six pass over.
    if (round >= 10) await writeFile(`${dir}/.certs.lock`, '999999999\n');
    if (round >= 14) await writeFile(`${dir}/.certs.lock.0`, '999999998\n');
    if (round === 14) await writeFile(`${dir}/.certs.lock.00`, '999999997\n');
    const contending = contend(dir, 6);
    // Meanwhile the lock is read as a process that finds it taken reads it: it must never be seen without its holder.
    const seenEmpty = readWhileTaken(`${dir}/.certs.lock`, 1_500);
    const said = await contending;
    if (seenEmpty > 0) return t.fail(`round ${round}: the lock was seen without its holder's pid ${seenEmpty} times`);
    if (said.some((line) => line.startsWith('failed')) || !said.some((line) => line.startsWith('held')) || overlapping(said)) return t.fail(`round ${round}: ${said.join('; ')}`);
    t.same((await readdir(dir)).filter((name) => name.startsWith('.certs.lock')), [], `round ${round}: one held it at a time, the others were told it was busy or took it after (${said.filter((line) => line.startsWith('held')).length} held it); nothing left behind`);
  }
});

t.test('a stale lock whose every breaker slot a killed breaker left is refused, saying what to remove', async (t) => {
  const dir = t.testdir({ '.certs.lock': '999999999\n', '.certs.lock.0': '999999998\n', '.certs.lock.00': '999999997\n', '.certs.lock.000': '999999996\n', '.certs.lock.0000': '999999995\n' });
  await t.rejects(acquireLock(dir, { name: '.certs.lock', busy: (holder) => `held by ${holder}` }), {
    code: 'ERR_NODE_LOCKED',
    message: `the lock ${dir}/.certs.lock names no live process, and 4 processes were killed while breaking it; when no securenode process uses this home, remove ${dir}/.certs.lock and ${dir}/.certs.lock.0*`,
  });
  t.same((await readdir(dir)).sort(), ['.certs.lock', '.certs.lock.0', '.certs.lock.00', '.certs.lock.000', '.certs.lock.0000'], 'nothing removed, and no next lock left');
});

/** A process's boot and start time as /proc tells them, read here on its own: `<boot id>:<start time in ticks>`. */
async function startOf(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return `${(await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()}:${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
}

t.test("a lock names its holder by pid and start: a dead holder's pid, now another process's, does not hold the home", async (t) => {
  // Another process alive under the pid a lock names, as after a restart that handed the dead holder's pid to it.
  const other = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => other.kill());
  const pid = other.pid!;
  const real = await startOf(pid);
  const take = (dir: string) => acquireLock(dir, { name: '.certs.lock', busy: (holder) => `held by ${holder}` });

  const mine = t.testdir();
  const release = await take(mine);
  t.equal(await readFile(`${mine}/.certs.lock`, 'utf8'), `${process.pid} ${await startOf(process.pid)}\n`, 'the lock says who holds it: pid, boot and start');
  await release();

  const held = t.testdir({ '.certs.lock': `${pid} ${real}\n` });
  await t.rejects(take(held), { code: 'ERR_NODE_LOCKED', message: `held by ${pid}` }, 'the very process: busy');
  t.equal(await lockHolder(held, '.certs.lock'), pid);
  const older = t.testdir({ '.certs.lock': `${pid}\n` });
  await t.rejects(take(older), { code: 'ERR_NODE_LOCKED', message: `held by ${pid}` }, 'a lock without a start (written before there was one): the pid alone decides');

  // The address a node leaves for the tools says the same: the tools do not send to a port a dead node's pid never opened.
  const addressed = t.testdir();
  await writeNodeAddress(addressed, 9201);
  t.same(JSON.parse(await readFile(`${addressed}/node.address.json`, 'utf8')), { pid: process.pid, start: await startOf(process.pid), httpPort: 9201 });
  t.same(await readNodeAddress(addressed), { pid: process.pid, start: await startOf(process.pid), httpPort: 9201 });
  await writeFile(`${addressed}/node.address.json`, JSON.stringify({ pid, start: `${real.split(':')[0]}:1`, httpPort: 9201 }));
  t.equal(await readNodeAddress(addressed), undefined, "another process under the recorded pid: no node's address");
  await writeFile(`${addressed}/node.address.json`, JSON.stringify({ pid, httpPort: 9201 }));
  t.same(await readNodeAddress(addressed), { pid, httpPort: 9201 }, 'an address without a start: the pid alone decides');

  // Any other start, boot or text there: the holder is gone, and the lock is taken over.
  const [boot, ticks] = real.split(':') as [string, string];
  const others = fc.oneof(
    fc.nat().map((n) => `${boot}:${n}`),
    fc.constant(`${boot}:${Number(ticks) + 1}`),
    fc.uuid().map((uuid) => `${uuid}:${ticks}`),
    fc.stringMatching(/^[!-~]{1,40}$/),
  ).filter((start) => start !== real);
  await fc.assert(
    fc.asyncProperty(others, async (start) => {
      const dir = t.testdir({ '.certs.lock': `${pid} ${start}\n` });
      if ((await lockHolder(dir, '.certs.lock')) !== undefined) return false;
      const taken = await take(dir);
      const now = await readFile(`${dir}/.certs.lock`, 'utf8');
      await taken();
      return now.startsWith(`${process.pid} `);
    }),
    { numRuns: 60 },
  );
});

t.test("the home's lock, or one about to be taken, is not the node's data for preflight", async (t) => {
  t.same(['node.lock', 'node.lock.1234', 'node.lock.', 'node.lock.12a', 'node.lock.1234.tmp', 'xnode.lock', 'security.json'].map(isLockFile), [true, true, false, false, false, false, false]);
});

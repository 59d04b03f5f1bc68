import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { runCli } from '../helpers/cli.js';
import { curl, statusOf } from '../helpers/curl.js';
import { nodeOwnedDir, runCliAsNodeUser, startNodeProcess, unprivilegedUser } from '../helpers/node-process.js';

const asRoot = { skip: process.getuid?.() !== 0 && 'needs root' };

async function uidsOf(pid: number): Promise<{ uid: string; gid: string }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { uid: /^Uid:\s+(.*)$/m.exec(status)![1]!, gid: /^Gid:\s+(.*)$/m.exec(status)![1]! };
}

t.test('started as root with node.user, the node binds, then runs as that user', asRoot, async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const user = unprivilegedUser!;
  const node = await startNodeProcess(home, { terminal: false, asRoot: true, args: ['-E', `node.user=${user}`], env: { ELASTIC_PASSWORD: 'dropped-privs-1' } });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  t.match(node.output(), /"event":"node_started","http":"0\.0\.0\.0:\d+"/, 'the first start binds as auto-configuration configures it (http.host: 0.0.0.0)');
  await node.waitFor(/"event":"privileges_dropped"/);
  const uid = String(process.getuid?.() === 0 ? (await import('node:child_process')).execFileSync('id', ['-u', user]).toString().trim() : '');
  const ids = await uidsOf(node.child.pid!);
  t.equal(ids.uid, `${uid}\t${uid}\t${uid}\t${uid}`, 'real, effective, saved and filesystem uid are all the user');
  t.notMatch(ids.gid, /(^|\t)0(\t|$)/, 'no root group left');
  t.equal(statusOf(await curl(port, `${homePaths(home).certsDir}/http_ca.crt`, ['-u', 'elastic:dropped-privs-1'])), '200');
  const owners = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      owners.add((await stat(join(dir, entry.name))).uid);
      if (entry.isDirectory()) await walk(join(dir, entry.name));
    }
  };
  await walk(home);
  t.same([...owners], [Number(uid)], 'every file of the home belongs to the user, none to root');
  await node.stop();
});

t.test('--allow-root runs as root with a warning at every start', asRoot, async (t) => {
  const home = `${t.testdir()}/home`;
  const node = await startNodeProcess(home, { terminal: false, asRoot: true, args: ['--allow-root'] });
  t.teardown(() => node.signal('SIGKILL'));
  await node.httpPort();
  t.match(node.output(), 'WARNING: securenode is running as root (--allow-root); run it as a dedicated user instead, or set node.user\n');
  await node.stop();
});

t.test('a config dir owned by another user is refused, naming both', asRoot, async (t) => {
  const home = `${await nodeOwnedDir(t)}/root-home`;
  t.equal((await runCli(['keystore', 'create', '--home', home])).exitCode, 0, 'a home made by root');
  const refused = await runCliAsNodeUser(['start', '--home', home]);
  t.equal(refused.exitCode, 78);
  const user = unprivilegedUser!;
  // Never 'su root': securenode does not run as root, so the only fix is to give the home away.
  t.match(refused.stderr, new RegExp(`^ERROR: the config dir ${home}/config is owned by root \\(uid 0\\), but securenode runs as ${user} \\(uid \\d+\\); securenode never runs as root, so give the home to ${user} \\(chown -R ${user} ${home}\\)\\n$`));
  t.notMatch(refused.stderr, 'su root');
});

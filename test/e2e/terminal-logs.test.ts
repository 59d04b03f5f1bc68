// On a terminal the node's log lines are readable text; redirected, they are
// JSON lines; logs/securenode.log is JSON lines always; logger.level and
// logger.format decide otherwise.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';

const banner = /HTTP CA certificate SHA-256 fingerprint:[^\n]*\r?\n {2}[0-9a-f]{64}\r?\n/;

t.test('a terminal gets one readable line per log record; the log file keeps JSON lines', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const node = await startNodeProcess(home, { terminal: true, env: { NO_COLOR: '1' } });
  t.teardown(() => node.signal('SIGKILL'));
  await node.waitFor(banner);
  await node.httpPort();
  const output = node.output();
  t.match(output, /\[\d\d:\d\d:\d\d\.\d{3}\] INFO: node started \{"event":"node_started","http":"[^"]+"/, 'time, level and message first');
  t.notMatch(output, /^\{"level":/m, 'no raw JSON line on the terminal');
  await node.stop();
  const lines = (await readFile(`${homePaths(home).logsDir}/securenode.log`, 'utf8')).trim().split('\n');
  t.ok(lines.every((line) => typeof (JSON.parse(line) as { level?: unknown }).level === 'number'), 'the log file: JSON lines');
  t.ok(lines.some((line) => line.includes('"event":"node_started"')));
});

t.test('logger.format=json on a terminal; logger.level=warn drops the info lines everywhere', async (t) => {
  const dir = await nodeOwnedDir(t);
  const json = await startNodeProcess(`${dir}/json`, { terminal: true, args: ['-E', 'logger.format=json'] });
  t.teardown(() => json.signal('SIGKILL'));
  await json.httpPort();
  t.match(json.output(), /^\{"level":30,"time":"[^"]+","event":"node_started"/m);
  await json.stop();

  const home = `${dir}/quiet`;
  const quiet = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: 'quiet-password-1' }, args: ['-E', 'logger.level=warn'] });
  t.teardown(() => quiet.signal('SIGKILL'));
  // No info line says it started: the address file it writes once it listens does.
  const address = `${homePaths(home).dataDir}/node.address.json`;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline && !(await readFile(address).then(() => true, () => false)); ) await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(await readFile(address).then(() => true, () => false), 'the node listens');
  await quiet.stop();
  t.notMatch(quiet.output(), '"level":30', 'no info line in the output');
  t.notMatch(await readFile(`${homePaths(home).logsDir}/securenode.log`, 'utf8'), '"level":30', 'nor in the log file');
});

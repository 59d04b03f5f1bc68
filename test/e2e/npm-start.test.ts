// `npm start -- ARGS` reaches `securenode start` (it was a shell syntax error),
// and builds only the sources.
import { spawn } from 'node:child_process';
import t from 'tap';
import { nodeOwnedDir } from '../helpers/node-process.js';

t.test('npm start -- -E ...: the arguments reach securenode start', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const child = spawn('npm', ['start', '--', '-E', 'http.port=0', '-E', 'transport.port=0', '-E', 'node.name=from-npm-start'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', SECURENODE_HOME: home, ELASTIC_PASSWORD: 'npm-start-pass-1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!/"event":"node_started"/.test(output) && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 50));
  t.match(output, /"event":"node_started","http":"[^"]+:\d+"/, 'the node started, on the port -E gave');
  t.match(output, '"node":"from-npm-start"', 'with the name -E gave');
  t.notMatch(output, 'Syntax error');
  t.match(output, 'tsc -p tsconfig.build.json', 'only the sources are built');
});

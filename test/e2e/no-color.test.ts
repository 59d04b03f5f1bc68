// NO_COLOR (https://no-color.org) turns off every colour of a first start on a
// terminal: the spinner's and the banner's.
import t from 'tap';
import { nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';

const banner = /HTTP CA certificate SHA-256 fingerprint:[^\n]*\r?\n {2}[0-9a-f]{64}\r?\n/;
// SGR sequences: colours and bold (cursor movement and line clearing are not colour).
const colour = /\u001b\[[0-9;]*m/;

for (const noColor of [false, true]) {
  t.test(noColor ? 'NO_COLOR=1: not one colour or bold sequence' : 'without NO_COLOR: colour on a terminal', async (t) => {
    const node = await startNodeProcess(`${await nodeOwnedDir(t)}/home`, { terminal: true, env: noColor ? { NO_COLOR: '1' } : {} });
    t.teardown(() => node.signal('SIGKILL'));
    await node.waitFor(banner);
    if (noColor) t.notMatch(node.output(), colour);
    else t.match(node.output(), colour);
  });
}

// Attack (of bad luck): kill -9 in the middle of a burst of parallel changes.
// Every change the node acknowledged is there after the restart.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { homePaths } from '../../src/home/layout.js';
import { httpsJson } from '../helpers/https.js';
import { nodeOwnedDir, startNodeProcess } from '../helpers/node-process.js';

const password = 'burst-password-1';

t.test('kill -9 during 60 parallel changes: every acknowledged one survives the restart', async (t) => {
  const home = `${await nodeOwnedDir(t)}/home`;
  const start = async () => {
    const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: password } });
    t.teardown(() => node.signal('SIGKILL'));
    return { node, port: await node.httpPort() };
  };
  const first = await start();
  const ca = await readFile(`${homePaths(home).certsDir}/http_ca.crt`, 'utf8');
  const call = (port: number, method: string, path: string, body?: unknown) => httpsJson({ port, ca, method, path, auth: `elastic:${password}`, ...(body === undefined ? {} : { body }) });
  await first.node.waitFor(/"event":"bootstrap_password_applied"/);

  const acknowledged: string[] = [];
  const burst = Array.from({ length: 60 }, (_, index) =>
    call(first.port, 'PUT', `/_security/user/burst${index}`, { password: `burst-user-pass-${index}`, roles: [] }).then(
      (answer) => void (answer.status === 200 && acknowledged.push(`burst${index}`)),
      () => {},
    ),
  );
  // Kill once some, not all, are acknowledged.
  const deadline = Date.now() + 60_000;
  while (acknowledged.length < 10 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  first.node.signal('SIGKILL');
  await first.node.exited();
  await Promise.all(burst);
  t.ok(acknowledged.length >= 10 && acknowledged.length < 60, `killed with ${acknowledged.length} of 60 acknowledged`);

  const second = await start();
  const listed = Object.keys((await call(second.port, 'GET', '/_security/user')).body as object);
  const lost = acknowledged.filter((name) => !listed.includes(name));
  t.same(lost, [], 'no acknowledged change was lost');
  const sample = acknowledged[acknowledged.length - 1]!;
  t.equal((await httpsJson({ port: second.port, ca, path: '/_security/_authenticate', auth: `${sample}:burst-user-pass-${sample.slice(5)}` })).status, 200, `${sample} logs in after the restart`);
});

import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import t from 'tap';

// securenode says which Node versions it runs on (package.json's engines); each package it runs with must run there
// too. cookie@2 (required by fastify's light-my-request) asks for Node 22 and is an ES module only: on a Node 20 before
// 20.19, which cannot require() one, fastify's inject threw at its first call.
const checkout = fileURLToPath(new URL('../../../', import.meta.url));
const read = async (file: string) => JSON.parse(await readFile(`${checkout}${file}`, 'utf8')) as Record<string, unknown>;

t.test('every package installed for the node (not for development) admits the oldest Node that package.json says securenode runs on', async (t) => {
  const range = ((await read('package.json')).engines as { node: string }).node;
  const oldest = semver.minVersion(range)!;
  t.equal(oldest.major, 20, `the engines (${range}) start at Node 20, the target`);
  const packages = (await read('package-lock.json')).packages as Record<string, { dev?: boolean; engines?: unknown }>;
  const runtime = Object.entries(packages).filter(([path, entry]) => path !== '' && !entry.dev);
  t.ok(runtime.length > 100, `${runtime.length} packages installed for the node`);
  const refusing = runtime
    .filter(([, entry]) => typeof (entry.engines as { node?: unknown } | undefined)?.node === 'string')
    .filter(([, entry]) => !semver.satisfies(oldest, (entry.engines as { node: string }).node))
    .map(([path, entry]) => `${path.replace(/^.*node_modules\//, '')} (${(entry.engines as { node: string }).node})`);
  t.same(refusing, [], `each admits Node ${oldest.version}`);
});

t.test("on a Node 20 that cannot require() an ES module (before 20.19), fastify's inject, which an embedding server's decisions go through, answers", async (t) => {
  const script = "const app = require('fastify')(); app.get('/', async () => 'answered'); app.inject({ url: '/', cookies: { a: 'b' } }).then((reply) => process.stdout.write(reply.body));";
  const child = spawnSync(process.execPath, ['--no-experimental-require-module', '-e', script], { cwd: checkout, encoding: 'utf8' });
  t.equal(child.stderr, '');
  t.equal(child.stdout, 'answered');
  t.equal(child.status, 0);
});

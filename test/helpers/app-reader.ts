import { readFile } from 'node:fs/promises';
import { homePaths } from '../../src/home/layout.js';
import { httpsJson } from './https.js';
import { startNodeProcess } from './node-process.js';

/**
 * A node started on `home` with the elastic password, and the user ada
 * (ada-password-123) whose one role, app-reader, has these endpoint rows: the
 * set-up of the tests of services behind the node (gateway, forward auth).
 */
export async function nodeWithAppReader(t: { teardown(fn: () => unknown): void }, home: string, password: string, endpoints: readonly Record<string, unknown>[], env: Record<string, string> = {}) {
  const node = await startNodeProcess(home, { terminal: false, env: { ELASTIC_PASSWORD: password, ...env } });
  t.teardown(() => node.signal('SIGKILL'));
  const port = await node.httpPort();
  await node.waitFor(/"event":"bootstrap_password_applied"/);
  const caFile = `${homePaths(home).certsDir}/http_ca.crt`;
  const ca = await readFile(caFile, 'utf8');
  const admin = `elastic:${password}`;
  const role = await httpsJson({ port, ca, method: 'PUT', path: '/_security/role/app-reader', auth: admin, body: { endpoints, entities: [] } });
  const user = await httpsJson({ port, ca, method: 'PUT', path: '/_security/user/ada', auth: admin, body: { password: 'ada-password-123', roles: ['app-reader'] } });
  if (role.status !== 200 || user.status !== 200) throw new Error(`setting up app-reader failed: ${role.status} ${user.status}`);
  return { node, port, caFile, ca, admin };
}

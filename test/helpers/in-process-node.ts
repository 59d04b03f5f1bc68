// A node started in this process on a new home (so that route code counts in
// coverage), reached through real HTTPS; shared by the RBAC and adversarial tests.
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { Test } from 'tap';
import { autoConfigure } from '../../src/autoconfig/auto-configure.js';
import { createAuditLog } from '../../src/logging/audit.js';
import { createLogger } from '../../src/logging/logger.js';
import { loadIdentity } from '../../src/node/data-dir.js';
import { startNode } from '../../src/node/server.js';
import { loadGatewayRoutes } from '../../src/gateway/gateway.js';
import { FileStore } from '../../src/security/file-store.js';
import { hashPassword } from '../../src/security/password.js';
import type { SecurityStore } from '../../src/security/store.js';
import { httpsJson } from './https.js';
import { pooledKeyPair } from './key-pool.js';

export const superPassword = 'rbac-super-password-1';

/** Start a node with `enforce`; its store is the home's file store unless `store` opens another. */
export async function inProcessNode(t: Test, enforce: string, options: { httpHost?: string; store?: (dataDir: string) => Promise<SecurityStore>; overrides?: string[] } = {}) {
  const home = `${t.testdir()}/home`;
  const httpHost = options.httpHost ?? '127.0.0.1';
  const configured = await autoConfigure({ home, generateKeyPair: pooledKeyPair, env: {}, overrides: ['http.port=0', 'transport.port=0', `http.host=${httpHost}`, `security.rbac.enforce=${enforce}`, ...(options.overrides ?? [])] });
  if (configured.kind !== 'configured') throw new Error('expected a configured home');
  const store = options.store ? await options.store(configured.paths.dataDir) : await FileStore.open(configured.paths.dataDir);
  await store.putUser({ username: 'elastic', passwordHash: await hashPassword(superPassword), roles: ['superuser'], enabled: true });
  const logged: string[] = [];
  const logger = await createLogger(configured.paths.logsDir, { stdout: new Writable({ write: (chunk, _encoding, done) => (logged.push(String(chunk)), done()) }) });
  const audit = await createAuditLog(configured.paths.logsDir);
  const gateway = await loadGatewayRoutes(configured.settings, configured.paths.configDir);
  const running = await startNode({ gateway, settings: configured.settings, tls: configured.tls, store, identity: await loadIdentity(configured.paths.dataDir), logger, audit, version: '0.1.0', tokenHashKey: Buffer.alloc(32, 7) });
  t.teardown(() => running.close());
  const call = (method: string, path: string, auth?: string, body?: unknown, host = '127.0.0.1', headers?: Record<string, string>) =>
    httpsJson({ port: running.http.port, ca: configured.tls.httpCaPem, method, path, host, ...(auth ? { auth } : {}), ...(body === undefined ? {} : { body }), ...(headers ? { headers } : {}) });
  const admin = `elastic:${superPassword}`;
  const auditLines = async () => (await readFile(`${configured.paths.logsDir}/audit.log`, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  return { call, admin, store, logged, auditLines, running, configured };
}

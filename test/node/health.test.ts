// GET /_health: liveness for load balancers and service managers, answered
// without credentials, revealing nothing but that the node serves HTTPS.
import t from 'tap';
import { curl, statusOf } from '../helpers/curl.js';
import { inProcessNode } from '../helpers/in-process-node.js';

t.test('GET /_health answers 200 without credentials, and nothing else does', async (t) => {
  const { call, running, configured, auditLines, admin } = await inProcessNode(t, 'on');
  const ca = `${configured.paths.certsDir}/http_ca.crt`;
  t.same(await curl(running.http.port, ca, [], '/_health').then((result) => result.stdout), '{"status":"ok"}\n200', 'curl, no credentials');
  t.equal(statusOf(await curl(running.http.port, ca, ['-I'], '/_health')), '200', 'HEAD too');
  t.equal(statusOf(await curl(running.http.port, ca, ['-u', 'elastic:wrong-password'], '/_health')), '200', 'a credential is not even looked at');
  t.equal((await call('GET', '/_health?pretty')).status, 200);
  t.equal((await call('GET', '/%5Fhealth')).status, 200, 'decided on the decoded path, like every route');
  for (const path of ['/_health/x', '/_healthz', '/']) t.equal((await call('GET', path)).status, 401, `${path} still needs a credential`);
  t.equal((await call('POST', '/_health')).status, 404, 'only GET and HEAD');
  await call('GET', '/', admin);
  // The audit log is written behind the answers: poll for the last event, then look for the probes.
  let lines: Record<string, unknown>[] = [];
  for (const deadline = Date.now() + 5_000; Date.now() < deadline && !lines.some((line) => line.event === 'authentication_success'); await new Promise((resolve) => setTimeout(resolve, 50))) {
    lines = await auditLines().catch(() => []);
  }
  t.ok(lines.some((line) => line.event === 'authentication_success'), 'the audit log is there');
  t.notOk(lines.some((line) => line.path === '/_health'), 'probes fill no audit log');
});

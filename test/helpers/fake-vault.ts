import { createServer, type IncomingHttpHeaders } from 'node:http';

/**
 * A stand-in for HashiCorp Vault's KV read API, as its documentation gives it:
 * v1 GET /v1/<mount>/<path> -> {"data": {...}}; v2 GET /v1/<mount>/data/<path>[?version=N]
 * -> {"data": {"data": {...}, "metadata": {...}}}; 403 for a wrong X-Vault-Token, 404 for
 * a missing path. Logins as its auth methods document them: POST /v1/auth/<path>/login
 * with {role, jwt} (kubernetes) or {role_id, secret_id} (approle) -> {"auth":
 * {"client_token": ...}}, 400 for a wrong one; POST /v1/sys/wrapping/unwrap with the
 * wrapping token as X-Vault-Token -> {"data": {...}}, once. No Vault binary can be
 * installed here, so tests use this.
 */
export async function startFakeVault(options: {
  token: string;
  namespace?: string;
  v1: Record<string, object>;
  v2: Record<string, object[]>;
  kubernetes?: { path: string; role: string; jwt: string };
  approle?: { path: string; roleId: string; secretId: string; wrappingToken?: string };
}) {
  const seen: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const unwrapped = new Set<string>();
  const server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += String(chunk);
    seen.push({ url: request.url ?? '', headers: request.headers, body });
    const send = (status: number, answer: object) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer));
    };
    const login = { auth: { client_token: options.token, lease_duration: 3600, renewable: true } };
    const json = (): Record<string, unknown> => {
      try {
        return JSON.parse(body) as Record<string, unknown>;
      } catch {
        return {};
      }
    };
    if (request.method === 'POST' && options.kubernetes && request.url === `/v1/auth/${options.kubernetes.path}/login`) {
      const { role, jwt } = json();
      return role === options.kubernetes.role && jwt === options.kubernetes.jwt ? send(200, login) : send(400, { errors: ['invalid role or service account token'] });
    }
    if (request.method === 'POST' && options.approle && request.url === `/v1/auth/${options.approle.path}/login`) {
      const { role_id: roleId, secret_id: secretId } = json();
      return roleId === options.approle.roleId && secretId === options.approle.secretId ? send(200, login) : send(400, { errors: ['invalid role or secret ID'] });
    }
    if (request.method === 'POST' && request.url === '/v1/sys/wrapping/unwrap') {
      const wrapping = request.headers['x-vault-token'];
      if (!options.approle?.wrappingToken || wrapping !== options.approle.wrappingToken || unwrapped.has(wrapping)) return send(400, { errors: ['wrapping token is not valid or does not exist'] });
      unwrapped.add(wrapping);
      return send(200, { data: { secret_id: options.approle.secretId, secret_id_accessor: 'accessor' } });
    }
    if (request.headers['x-vault-token'] !== options.token) return send(403, { errors: ['permission denied'] });
    if (options.namespace && request.headers['x-vault-namespace'] !== options.namespace) return send(404, { errors: [] });
    const url = new URL(request.url ?? '/', 'http://vault');
    const v2 = /^\/v1\/([^/]+)\/data\/(.+)$/.exec(url.pathname);
    if (v2) {
      const versions = options.v2[`${v2[1]}/${decodeURIComponent(v2[2]!)}`];
      const wanted = Number(url.searchParams.get('version') ?? versions?.length ?? 0);
      const data = versions?.[wanted - 1];
      return data ? send(200, { data: { data, metadata: { version: wanted } } }) : send(404, { errors: [] });
    }
    const v1 = /^\/v1\/(.+)$/.exec(url.pathname);
    const data = v1 ? options.v1[decodeURIComponent(v1[1]!)] : undefined;
    return data ? send(200, { data, lease_duration: 2764800 }) : send(404, { errors: [] });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { address: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

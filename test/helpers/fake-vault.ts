import { createServer, type IncomingHttpHeaders } from 'node:http';

/**
 * A stand-in for HashiCorp Vault's KV read API, as its documentation gives it:
 * v1 GET /v1/<mount>/<path> -> {"data": {...}}; v2 GET /v1/<mount>/data/<path>[?version=N]
 * -> {"data": {"data": {...}, "metadata": {...}}}; 403 for a wrong X-Vault-Token, 404 for
 * a missing path. No Vault binary can be installed here, so tests use this.
 */
export async function startFakeVault(options: { token: string; namespace?: string; v1: Record<string, object>; v2: Record<string, object[]> }) {
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
  const server = createServer((request, response) => {
    seen.push({ url: request.url ?? '', headers: request.headers });
    const send = (status: number, body: object) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
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

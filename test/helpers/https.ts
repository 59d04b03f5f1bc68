import { request } from 'node:https';

/** One HTTPS request that trusts only `ca`; resolves with status, headers and the parsed JSON body. */
export function httpsJson(options: { port: number; path?: string; ca: string; auth?: string; host?: string; servername?: string; method?: string; body?: unknown; headers?: Record<string, string> }) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: unknown }>((resolve, reject) => {
    const headers: Record<string, string> = { ...(options.auth === undefined ? {} : { authorization: `Basic ${Buffer.from(options.auth).toString('base64')}` }), ...options.headers };
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
    request(
      { host: options.host ?? '127.0.0.1', port: options.port, path: options.path ?? '/', method: options.method ?? 'GET', servername: options.servername ?? 'localhost', ca: options.ca, headers, agent: false },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text ? JSON.parse(text) : undefined }));
      },
    )
      .on('error', reject)
      .end(payload);
  });
}

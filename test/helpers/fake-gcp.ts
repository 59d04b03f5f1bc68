import { generateKeyPairSync, verify } from 'node:crypto';
import { createServer } from 'node:http';

/**
 * A stand-in for Google Cloud Secret Manager's REST API, as Google documents it:
 * GET /v1/projects/<p>/secrets/<s>/versions/<v>:access -> {"name", "payload":
 * {"data": base64}}, `latest` the newest; errors as {"error": {"code", "message",
 * "status"}}. It checks what Google checks first: a Bearer JWT signed with the
 * service account's key (the SDK's self-signed JWT). There is no Secret Manager
 * emulator to install here, so tests use this; it also makes the service
 * account key that GCP_SERVICE_ACCOUNT carries.
 */
export async function startFakeSecretManager(secrets: Record<string, string[]>) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const seen: string[] = [];
  const server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    const send = (status: number, body: object) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    const error = (code: number, status: string, message: string) => send(code, { error: { code, message, status } });
    const [scheme, jwt] = (request.headers.authorization ?? '').split(' ');
    const [head, claims, signature] = (jwt ?? '').split('.');
    const signed = scheme === 'Bearer' && head && claims && signature && verify('sha256', Buffer.from(`${head}.${claims}`), publicKey, Buffer.from(signature, 'base64url'));
    if (!signed) return error(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    const match = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/:?]+):access/.exec(request.url ?? '');
    if (!match) return error(404, 'NOT_FOUND', 'not found');
    const versions = secrets[`${match[1]}/${decodeURIComponent(match[2]!)}`];
    const number = match[3] === 'latest' ? versions?.length : Number(match[3]);
    const value = number ? versions?.[number - 1] : undefined;
    if (value === undefined) return error(404, 'NOT_FOUND', `Secret [projects/${match[1]}/secrets/${match[2]}] not found or has no versions.`);
    return send(200, { name: `projects/${match[1]}/secrets/${match[2]}/versions/${number}`, payload: { data: Buffer.from(value).toString('base64') } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const serviceAccount = {
    type: 'service_account', project_id: 'securenode-test', private_key_id: 'test-key-1', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: 'securenode@securenode-test.iam.gserviceaccount.com', client_id: '1', token_uri: `${endpoint}/token`,
  };
  return { endpoint, seen, serviceAccount: JSON.stringify(serviceAccount), close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

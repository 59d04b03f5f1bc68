import { createServer } from 'node:https';
import { generateTlsMaterial } from '../../src/pki/tls-material.js';
import { pooledKeyPair } from './key-pool.js';

/**
 * A stand-in for Azure Key Vault and Microsoft Entra's token endpoint, on one
 * HTTPS port, as Microsoft documents them: the OpenID configuration of a
 * tenant, POST <tenant>/oauth2/v2.0/token (client credentials) -> an access
 * token; GET /secrets/<name>[/<version>]?api-version=... -> {"value", "id"}, first
 * answering 401 with the Bearer challenge that names the tenant, as Key Vault
 * does; 404 SecretNotFound. There is no Key Vault emulator to install here.
 * Its CA (`caPem`) is what a client passes in NODE_EXTRA_CA_CERTS.
 */
export async function startFakeKeyVault(options: { tenant: string; clientId: string; clientSecret: string; secrets: Record<string, { version: string; value: string }[]> }) {
  const tls = await generateTlsMaterial({ nodeName: 'fake-key-vault', subjectAltNames: [{ kind: 'ip', value: '127.0.0.1' }, { kind: 'dns', value: 'localhost' }], generateKeyPair: pooledKeyPair });
  const accessToken = 'fake-entra-access-token';
  const seen: string[] = [];
  let base = '';
  const server = createServer({ pfx: tls.httpP12, passphrase: tls.passwords.http }, async (request, response) => {
    let body = '';
    for await (const chunk of request) body += String(chunk);
    seen.push(`${request.method} ${request.url}`);
    const send = (status: number, answer: object, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(answer));
    };
    const url = new URL(request.url ?? '/', base);
    const tenant = `/${options.tenant}`;
    if (url.pathname === `${tenant}/v2.0/.well-known/openid-configuration`) {
      return send(200, {
        token_endpoint: `${base}${tenant}/oauth2/v2.0/token`, authorization_endpoint: `${base}${tenant}/oauth2/v2.0/authorize`, issuer: `${base}${tenant}/v2.0`,
        jwks_uri: `${base}${tenant}/discovery/v2.0/keys`, end_session_endpoint: `${base}${tenant}/oauth2/v2.0/logout`, response_types_supported: ['code', 'id_token', 'token'],
      });
    }
    if (url.pathname === `${tenant}/oauth2/v2.0/token` && request.method === 'POST') {
      const form = new URLSearchParams(body);
      if (form.get('client_id') !== options.clientId || form.get('client_secret') !== options.clientSecret) {
        return send(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.', error_codes: [7000215] });
      }
      return send(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: accessToken });
    }
    const secret = /^\/secrets\/([^/]+)(?:\/([^/]*))?$/.exec(url.pathname);
    if (secret) {
      if (request.headers.authorization !== `Bearer ${accessToken}`) {
        return send(401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, { 'www-authenticate': `Bearer authorization="${base}${tenant}", resource="https://vault.azure.net"` });
      }
      const versions = options.secrets[decodeURIComponent(secret[1]!)] ?? [];
      const found = secret[2] ? versions.find((entry) => entry.version === secret[2]) : versions.at(-1);
      if (!found) return send(404, { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${secret[1]} was not found in this key vault.` } });
      return send(200, { value: found.value, id: `${base}/secrets/${secret[1]}/${found.version}`, attributes: { enabled: true } });
    }
    return send(404, { error: { code: 'NotFound' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { base, caPem: tls.httpCaPem, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

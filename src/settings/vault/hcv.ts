import { readFile } from 'node:fs/promises';
import { fail, option, requestTimeout, setting, type VaultBackend, type VaultContext } from './backend.js';
import type { VaultReference } from './reference.js';

/** What every request to this Vault carries: its address, namespace, timeout and fetch. */
interface VaultServer {
  readonly address: string;
  readonly namespace: string | undefined;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
}

/** One request to Vault, as JSON; a failure in words that name no value. `what` says what was asked, for messages. */
async function request(server: VaultServer, path: string, what: string, init: { token?: string; body?: object } = {}): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await server.fetch(`${server.address}${path}`, {
      method: init.body ? 'POST' : 'GET',
      headers: { ...(init.token ? { 'X-Vault-Token': init.token } : {}), ...(server.namespace ? { 'X-Vault-Namespace': server.namespace } : {}), ...(init.body ? { 'Content-Type': 'application/json' } : {}) },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(server.timeoutMs),
    });
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return fail(`Vault at ${server.address} did not answer in time`);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return fail(`could not reach Vault at ${server.address} (${cause?.code ?? cause?.message ?? (error as Error).name})`);
  }
  if (response.status === 404) fail('no value found (not found)');
  if (response.status === 403 || response.status === 401 || response.status === 400) fail(`Vault refused ${what} (${response.status} permission denied)`);
  if (!response.ok) fail(`Vault answered HTTP ${response.status} to ${what}`);
  try {
    return (await response.json()) as Record<string, unknown>;
  } catch {
    return fail(`Vault answered ${what} with something that is not JSON`);
  }
}

/** The client token of a login answer. */
function clientToken(answer: Record<string, unknown>, what: string): string {
  const token = (answer.auth as { client_token?: unknown } | undefined)?.client_token;
  return typeof token === 'string' && token !== '' ? token : fail(`Vault answered ${what} without a client token`);
}

async function readSecretFile(path: string, what: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    return fail(`cannot read ${what} ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * The token a read is made with, by Kong's auth_method: `token` (vault.hcv.token,
 * else VAULT_TOKEN), `kubernetes` (a login with the pod's service account
 * token for kube_role) or `approle` (a login with approle_role_id and a secret
 * id, given or in a file, unwrapped first when it is response-wrapped).
 */
async function loginToken(reference: VaultReference, { settings, env }: VaultContext, server: VaultServer): Promise<string> {
  const get = (name: string): string | undefined => option(reference, settings, name);
  // Secrets come from settings only (which may be references themselves), never from a reference's query, where they would be written in the clear.
  const secret = (name: string): string | undefined => setting(settings, `vault.hcv.${name}`);
  const method = get('auth_method') ?? 'token';
  switch (method) {
    case 'token':
      return secret('token') ?? env.VAULT_TOKEN ?? fail('no Vault token: set VAULT_TOKEN or vault.hcv.token');
    case 'kubernetes': {
      const role = get('kube_role') ?? fail('auth_method kubernetes needs vault.hcv.kube_role');
      const jwt = await readSecretFile(get('kube_api_token_file') ?? '/var/run/secrets/kubernetes.io/serviceaccount/token', 'the Kubernetes service account token');
      const path = encodeURIComponent(get('kube_auth_path') ?? 'kubernetes');
      return clientToken(await request(server, `/v1/auth/${path}/login`, 'the kubernetes login', { body: { role, jwt } }), 'the kubernetes login');
    }
    case 'approle': {
      const roleId = get('approle_role_id') ?? fail('auth_method approle needs vault.hcv.approle_role_id');
      const file = get('approle_secret_id_file');
      let secretId = secret('approle_secret_id') ?? (file === undefined ? fail('auth_method approle needs vault.hcv.approle_secret_id or approle_secret_id_file') : await readSecretFile(file, 'the AppRole secret id file'));
      if (/^(true|1|yes)$/i.test(get('approle_response_wrapping') ?? '')) {
        // A wrapped secret id is a single-use wrapping token: unwrapping it gives the secret id, once.
        const unwrapped = (await request(server, '/v1/sys/wrapping/unwrap', 'the wrapped secret id', { token: secretId, body: {} })).data as { secret_id?: unknown } | undefined;
        secretId = typeof unwrapped?.secret_id === 'string' ? unwrapped.secret_id : fail('Vault unwrapped something that is not an AppRole secret id');
      }
      const path = encodeURIComponent(get('approle_auth_path') ?? 'approle');
      return clientToken(await request(server, `/v1/auth/${path}/login`, 'the approle login', { body: { role_id: roleId, secret_id: secretId } }), 'the approle login');
    }
    default:
      return fail(`auth_method must be token, kubernetes or approle, not ${method}`);
  }
}

/**
 * hcv: HashiCorp Vault KV. v1 reads /v1/<mount>/<resource>, v2 reads
 * /v1/<mount>/data/<resource>[?version=N]; the secret is its JSON data. The
 * token comes from auth_method (token, kubernetes, approle), as in Kong.
 */
export const hcvBackend: VaultBackend = async (reference, context) => {
  const { settings } = context;
  const address = (setting(settings, 'vault.hcv.address') ?? fail('vault.hcv.address is not set')).replace(/\/+$/, '');
  // The token goes only where the operator's settings send it: a reference cannot point it at another address.
  if (reference.options.address !== undefined && reference.options.address.replace(/\/+$/, '') !== address) fail(`the address option may only repeat vault.hcv.address (${address}); the Vault token is sent nowhere else`);
  const mount = reference.options.mount ?? setting(settings, 'vault.hcv.mount') ?? 'secret';
  const kv = Number(reference.options.kv_version ?? reference.options.kv ?? settings.number('vault.hcv.kv_version') ?? 1);
  if (kv !== 1 && kv !== 2) fail(`kv_version must be 1 or 2, not ${kv}`);
  const server: VaultServer = { address, namespace: option(reference, settings, 'namespace'), timeoutMs: requestTimeout(settings), fetch: context.fetch ?? fetch };
  const token = await loginToken(reference, context, server);
  const resource = reference.resource.split('/').map(encodeURIComponent).join('/');
  const path = kv === 2 ? `/v1/${mount}/data/${resource}${reference.version ? `?version=${reference.version}` : ''}` : `/v1/${mount}/${resource}`;
  const body = (await request(server, path, 'the token', { token })) as { data?: { data?: unknown } & Record<string, unknown> };
  const data = kv === 2 ? body.data?.data : body.data;
  if (typeof data !== 'object' || data === null) fail('Vault answered without secret data');
  return JSON.stringify(data);
};

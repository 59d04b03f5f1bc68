import { fail, option, requestTimeout, type VaultBackend } from './backend.js';

/** What a failure means: the REST transport reports HTTP statuses, gRPC its own codes. */
const meanings: Readonly<Record<string, string>> = {
  404: 'not-found', 5: 'not-found',
  401: 'unauthenticated', 16: 'unauthenticated',
  403: 'denied', 7: 'denied',
  408: 'timeout', 504: 'timeout', 4: 'timeout',
  400: 'invalid', 3: 'invalid',
  503: 'unavailable', 14: 'unavailable',
};

/** Why a read failed, in words that name no value. */
function reason(error: unknown, where: string): string {
  const { code, message } = error as { code?: number | string; message?: string };
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `could not reach Secret Manager at ${where} (${code})`;
  if (/Could not load the default credentials/.test(message ?? '')) return 'no Google Cloud credentials: set GCP_SERVICE_ACCOUNT (a service account key as JSON), or run with workload identity';
  if ((error as Error).name === 'AbortError' || /timeout|DEADLINE/i.test(message ?? '')) return `Secret Manager at ${where} did not answer in time`;
  switch (meanings[String(code)]) {
    case 'not-found':
      return 'no value found (not found)';
    case 'unauthenticated':
      return 'Google Cloud refused the credentials (UNAUTHENTICATED)';
    case 'denied':
      return 'Google Cloud refused the credentials (PERMISSION_DENIED)';
    case 'timeout':
      return `Secret Manager at ${where} did not answer in time`;
    case 'invalid':
      return 'Google Cloud refused the request (INVALID_ARGUMENT)';
    case 'unavailable':
      return `could not reach Secret Manager at ${where} (UNAVAILABLE)`;
    default:
      return `Secret Manager failed (${code === undefined ? ((error as Error).name ?? 'error') : `code ${code}`})`;
  }
}

/**
 * gcp: Google Cloud Secret Manager, as Kong's gcp vault reads it:
 * {vault://gcp/<secret-id>[/<json-field>][?project_id=...][#version]}, the
 * latest version unless a number is given. Credentials: GCP_SERVICE_ACCOUNT
 * (a service account key as JSON, as in Kong), else Google's application
 * default credentials (workload identity on GKE, the metadata server).
 * vault.gcp.endpoint_url names another endpoint (a regional or private one).
 */
export const gcpBackend: VaultBackend = async (reference, { settings, env }) => {
  const project = option(reference, settings, 'project_id') ?? fail('no Google Cloud project: set vault.gcp.project_id or ?project_id=');
  const endpoint = option(reference, settings, 'endpoint_url');
  let credentials: Record<string, unknown> | undefined;
  if (env.GCP_SERVICE_ACCOUNT !== undefined) {
    try {
      credentials = JSON.parse(env.GCP_SERVICE_ACCOUNT) as Record<string, unknown>;
    } catch {
      fail('GCP_SERVICE_ACCOUNT is not a service account key in JSON');
    }
  }
  let target: { apiEndpoint: string; port?: number; protocol?: string } | undefined;
  if (endpoint !== undefined) {
    const url = URL.canParse(endpoint) ? new URL(endpoint) : fail(`vault.gcp.endpoint_url is not a URL: ${endpoint}`);
    target = { apiEndpoint: url.hostname, ...(url.port ? { port: Number(url.port) } : {}), protocol: url.protocol.replace(':', '') };
  }
  // Loaded on first use: a node without gcp references never pays for the SDK. REST (fallback), not gRPC: one HTTPS request, as for the others.
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  const client = new SecretManagerServiceClient({ fallback: true, projectId: project, ...(credentials ? { credentials } : {}), ...(target ?? {}) });
  const where = endpoint ?? 'secretmanager.googleapis.com';
  try {
    const name = client.secretVersionPath(project, reference.resource, reference.version === undefined ? 'latest' : String(reference.version));
    const timeoutMs = requestTimeout(settings);
    // The SDK's own timeout does not always bound a REST call: a race does, and closing the client ends the request.
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { name: 'AbortError' })), timeoutMs);
    });
    const [version] = await Promise.race([client.accessSecretVersion({ name }, { timeout: timeoutMs, retry: null }), expired]).finally(() => clearTimeout(timer));
    const data = version.payload?.data;
    if (data === undefined || data === null) return fail('Secret Manager answered without a secret value');
    return typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : Buffer.from(data).toString('utf8');
  } catch (error) {
    if ((error as Error).name === 'VaultReferenceError') throw error;
    return fail(reason(error, where));
  } finally {
    await client.close().catch(() => {});
  }
};
